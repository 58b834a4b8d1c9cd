"""Engines from an op table over a symbolic-graph framework (issue 20): PyTensor, CasADi.

An :class:`~diffcmp.engines.optable.OpTableEngine` calls its table on the framework's arrays
at every call; a graph framework is called once, on symbols, and compiles what it built. So a
:class:`GraphTableEngine` builds the case's loss once over its table (``OPS``, each case's loss
as written: ``X @ w`` is one ``matmul``) on one symbolic vector ``x`` of every parameter's
values (split into the parameters with the table's ``index`` and ``reshape``:
:func:`~diffcmp.engines.optable.split_flat`), the data as graph constants; derives the gradient
on the graph; and compiles ``x -> (loss, gradient)`` once. Each is a step of ``prepare``
(``build``, ``derive``, ``compile``, ``first call``); the loss alone is compiled on its first
call (the timer's warm-up, into the same steps), the Hessian and the Hessian-vector product on
theirs (``derive hessian``, ``compile hvp``...).

The framework comes from an optional extra (:mod:`diffcmp.engines.optional`): the engine's
module imports none, :meth:`GraphTableEngine.prepare` imports it (and the op table's module,
which imports it) through :func:`~diffcmp.engines.optional.require`, so a missing extra makes
every case ``unsupported`` with the command that installs it, and a worker still starts.
"""

from __future__ import annotations

import importlib
from abc import abstractmethod
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from ..errors import UnsupportedError
from ..symbolic.problem import Problem
from .base import Engine, Phase, Prepared
from .optable import Table, split_flat
from .optional import require

#: A compiled function: numeric inputs -> its outputs, in the framework's types.
Compiled = Callable[..., Sequence[Any]]


class GraphTableEngine(Engine):
    """An engine over a graph framework's op table (see the module docstring): subclasses name
    the framework and the table, and give the symbols, the derivatives and the compiler."""

    offers = frozenset({"gradient", "hessian", "hvp"})

    #: The framework's module and the extra that installs it (for
    #: :func:`~diffcmp.engines.optional.require`).
    framework: ClassVar[tuple[str, str]]
    #: The module of the op table (its ``OPS``, and ``LACKS``: why the framework lacks an op
    #: of the spec, by name, where it says), imported once the framework is found.
    table_module: ClassVar[str]
    #: At most how many dimensions the framework's arrays have (``None``: any).
    most_dimensions: ClassVar[int | None] = None

    @classmethod
    def start(cls) -> None:
        """Import the framework and its op table where the extra is installed (a worker's
        start, outside any case's timing); nothing where it is not: each case says so."""
        try:
            cls.load()
        except UnsupportedError:
            return

    @classmethod
    def load(cls) -> tuple[ModuleType, ModuleType]:
        """The framework's module and the op table's (its ``OPS``); :class:`UnsupportedError`
        naming the extra where the framework is missing."""
        module = require(*cls.framework)
        return module, importlib.import_module(cls.table_module)

    @abstractmethod
    def variable(self, size: int) -> Any:
        """A symbolic float64 vector of ``size`` values (every parameter's, flat)."""

    @abstractmethod
    def constant(self, values: np.ndarray) -> Any:
        """The case's data ``values`` (float64) as a graph constant for the table's ops."""

    @abstractmethod
    def scalar(self, value: Any) -> Any:
        """The loss the table built, as the framework's scalar expression."""

    @abstractmethod
    def gradient(self, loss: Any, x: Any) -> Any:
        """The symbolic gradient of ``loss`` with respect to ``x`` (a vector of ``x``'s size)."""

    @abstractmethod
    def hessian(self, loss: Any, x: Any) -> Any:
        """The symbolic ``n x n`` Hessian of ``loss`` with respect to ``x``."""

    @abstractmethod
    def hvp(self, loss: Any, x: Any, v: Any) -> Any:
        """The symbolic Hessian-vector product ``H(x) v`` (``v`` another :meth:`variable`)."""

    @abstractmethod
    def compile(self, inputs: list[Any], outputs: list[Any]) -> Compiled:
        """``inputs`` (symbolic vectors) -> ``outputs`` compiled into one numeric function."""

    def check(self, problem: Problem) -> None:
        """:class:`UnsupportedError` for a case the framework cannot express (arrays of more
        than :attr:`most_dimensions` dimensions)."""
        most = self.most_dimensions
        if most is None:
            return
        for v in [*problem.params, *problem.data]:
            if len(v.shape) > most:
                raise UnsupportedError(
                    f"{v.name} has {len(v.shape)} dimensions {v.shape}: {self.name}'s arrays "
                    f"are matrices, of {most} dimensions at most")

    def convert(self, x: np.ndarray) -> Any:
        """A flat float64 point as the compiled functions' input (a NumPy array by default)."""
        return np.array(x, dtype=np.float64)

    def to_numpy(self, value: Any) -> np.ndarray:
        """A compiled function's output as a NumPy array (``np.asarray`` by default)."""
        return np.asarray(value, dtype=np.float64)

    def prepare(self, problem: Problem) -> Prepared:
        """Build, derive and compile once (each step timed), then the first call."""
        module = self.load()[1]
        table = Table(module.OPS, self.table_module, getattr(module, "LACKS", {}))
        names = [v.name for v in problem.params]
        size = sum(v.size for v in problem.params)
        prepared = Prepared(inputs=self.convert, loss=None, grad=None, read=self._read)
        with prepared.step("build"):
            self.check(problem)
            f = problem.loss_function(table)
            x = self.variable(size)
            data = {k: self.constant(np.asarray(v, dtype=np.float64))
                    for k, v in problem.data_values.items()}
            params = split_flat(table, x, [v.shape for v in problem.params],
                                self.most_dimensions)
            loss = self.scalar(f({**data, **dict(zip(names, params, strict=True))}))
        with prepared.step("derive"):
            grad = self.gradient(loss, x)
        with prepared.step("compile"):
            both = self.compile([x], [loss, grad])
        compiled: dict[str, Compiled] = {}

        def build(name: str) -> Compiled:
            """The loss alone, the Hessian or the product, derived and compiled on first use."""
            if name not in compiled:
                if name == "loss":
                    with prepared.step("compile"):
                        compiled[name] = self.compile([x], [loss])
                else:
                    v = self.variable(size)
                    with prepared.step(f"derive {name}"):
                        out = self.hessian(loss, x) if name == "hessian" else self.hvp(
                            loss, x, v)
                    with prepared.step(f"compile {name}"):
                        compiled[name] = self.compile([x] if name == "hessian" else [x, v],
                                                      [out])
            return compiled[name]

        prepared.loss = lambda point: build("loss")(point)[0]
        prepared.grad = both
        with prepared.step("first call"):
            prepared.value_and_grad(problem.point)
        prepared.phases.update(
            hessian=Phase(lambda point: build("hessian")(point)[0], self._flat),
            hvp=Phase(lambda point, v: build("hvp")(point, v)[0], self._flat))
        return prepared

    def _read(self, out: Sequence[Any]) -> tuple[float, np.ndarray]:
        value, grad = out
        return float(self.to_numpy(value).reshape(())), self._flat(grad)

    def _flat(self, value: Any) -> np.ndarray:
        return self.to_numpy(value).ravel()
