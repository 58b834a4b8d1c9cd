"""The user's own code as an engine: a Python function that returns the loss (differentiated by
PyTorch autograd or ``jax.value_and_grad``) or ``(loss, grads)``, a hand-written gradient used as
is.

:class:`UserCodeEngine` is not in the registry: it wraps a function object, so it is handed to
:func:`diffcmp.run.evaluate.evaluate` as an extra engine (or graded without a symbolic reference,
:mod:`diffcmp.run.selfcheck`). The function is called with keyword arguments named like the params
and data:

* ``"torch"``: params as float64 tensors with ``requires_grad``, data as tensors (numbers as
  Python numbers), on the CPU; a returned loss is differentiated with ``torch.autograd.grad``;
* ``"jax"``: JAX arrays inside a local ``jax.enable_x64(True)`` (the user's own JAX
  configuration is never changed); a returned loss is differentiated with
  ``jax.value_and_grad`` (not jitted: the function is the user's, as written);
* ``"numpy"``: NumPy arrays (numbers as NumPy scalars); the function must return
  ``(loss, grads)``.

Only the params are converted to float64 (complex128 during the complex step). Data keep their
dtype: integer and boolean arrays stay integer and boolean (labels used as indices), floating
data become float64 (complex128 during the complex step, so that the framework does not refuse
to mix them with the params), and values that are not arrays (a string, a dict) are passed as
they are. Arrays of any number of dimensions are accepted. The function receives only the
arguments its signature names (all of them when it takes ``**kwargs``).

``grads`` is a dict by param name of arrays (NumPy, PyTorch, JAX) or numbers shaped like the
params; with a single param it may be that param's gradient alone (a bare array).
:func:`detect_framework` picks the framework from the values' types without importing PyTorch or
JAX. ``mode="fwd"`` takes the gradient by forward mode instead; the second-order phases are the
framework's Hessian and product, or the user's own ``hvp`` (:mod:`~diffcmp.engines.user_modes`).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DiffcmpError, UnsupportedError
from ..precision import round_to
from ..symbolic.problem import Problem, component_names
from .base import Engine, Phase, Prepared
from .user_modes import (
    array_like,
    flat_values,
    forward_gradient,
    framework_phases,
    plain,
    refused_phases,
)

FRAMEWORKS = ("torch", "jax", "numpy")
#: How each framework's gradient is taken when the function returns only its loss.
AUTOGRAD = {"torch": "PyTorch autograd (torch.autograd.grad)", "jax": "jax.value_and_grad",
            "numpy": ""}
#: How the gradient is taken in forward mode (``modes=("fwd", ...)`` of :func:`diffcmp.check`).
FORWARD = {"torch": "forward mode (torch.autograd.forward_ad, one pass per param element)",
           "jax": "forward mode (jax.jacfwd)", "numpy": ""}
#: The gradient's modes: as the function gives it (reverse mode or hand-written), and forward.
MODES = ("rev", "fwd")
HAND_WRITTEN = "hand-written (the (loss, grads) the function returns, used as is)"


def detect_framework(values: Iterable[Any]) -> str | None:
    """``"torch"`` when some value is a PyTorch tensor, ``"jax"`` for a JAX array, ``None`` for
    neither; :class:`DiffcmpError` for both. Imports neither library (a tensor means its library
    is imported already)."""
    torch, jax = sys.modules.get("torch"), sys.modules.get("jax")
    found = set()
    for value in values:
        if torch is not None and isinstance(value, torch.Tensor):
            found.add("torch")
        elif jax is not None and isinstance(value, jax.Array):
            found.add("jax")
    if len(found) > 1:
        raise DiffcmpError("the params and data mix PyTorch tensors and JAX arrays: pass "
                           "framework='torch' or framework='jax'")
    return found.pop() if found else None


@dataclass(frozen=True)
class Layout:
    """Where the function is evaluated: its params' names and shapes (in order) and its data."""

    shapes: dict[str, tuple[int, ...]]
    data: dict[str, Any]
    point: np.ndarray

    @classmethod
    def of(cls, params: Mapping[str, np.ndarray], data: Mapping[str, Any]) -> Layout:
        """The layout of float64 ``params`` (their values are the point) and ``data``."""
        point = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in params.values()])
        return cls({k: np.shape(v) for k, v in params.items()}, dict(data), point)

    @classmethod
    def of_problem(cls, problem: Problem) -> Layout:
        """The layout of a lowered case (the same order as its flat point and gradient)."""
        return cls.of({v.name: problem.case.params[v.name] for v in problem.params},
                      problem.data_values)

    @property
    def components(self) -> list[str]:
        """Component names, like the symbolic engines': ``w``, ``w[0]``, ``W[1,2]``."""
        return [c for name, shape in self.shapes.items() for c in component_names(name, shape)]

    def split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """A flat vector as ``{name: array of the param's shape}`` (its dtype kept)."""
        sizes = np.cumsum([int(np.prod(s)) for s in self.shapes.values()])[:-1]
        return {name: part.reshape(shape) for (name, shape), part in
                zip(self.shapes.items(), np.split(np.asarray(x), sizes), strict=True)}


def _scalar(value: Any, what: str) -> np.ndarray:
    array = plain(value)
    if array.size != 1:
        raise DiffcmpError(f"{what} must be a scalar loss, not an array of shape {array.shape}")
    if array.dtype.kind not in "fiuc":
        raise DiffcmpError(f"{what} must be a number, not {array.dtype}")
    return array.reshape(())


def _is_pair(out: Any, single: bool = False) -> bool:
    """Whether the function returned ``(loss, grads)``: grads a dict, or (with a ``single``
    param) that param's gradient as a bare array."""
    if isinstance(out, tuple | list):
        if len(out) == 2 and (isinstance(out[1], Mapping) or (single and array_like(out[1]))):
            return True
        raise DiffcmpError(f"the function returned a {type(out).__name__} of {len(out)}: return "
                           "the loss, or (loss, grads) with grads a dict by param name"
                           + (" (or the param's gradient alone)" if single else ""))
    return False


def accepted(function: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword arguments ``function`` takes by name; ``None`` for all (``**kwargs``, or a
    signature that cannot be read)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    names = set()
    for parameter in signature.parameters.values():
        if parameter.kind == inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              inspect.Parameter.KEYWORD_ONLY):
            names.add(parameter.name)
    return frozenset(names)


def data_value(value: Any, complex_: bool = False) -> Any:
    """A data value as the function gets it: floating arrays as float64 (complex128 with
    ``complex_``), integer and boolean arrays with their dtype, anything else as it is."""
    if not isinstance(value, np.ndarray | np.generic):
        return value
    if value.dtype.kind == "f" or value.dtype.kind == "c":
        kind = np.complex128 if complex_ or value.dtype.kind == "c" else np.float64
        return np.asarray(value, dtype=kind)
    return value


class UserCodeEngine(Engine):
    """A user's function: its loss and gradient, taken by its framework or written by hand."""

    name = "user code"

    def __init__(self, function: Callable[..., Any], framework: str, threads: int = 1, *,
                 mode: str = "rev", hvp: Callable[..., Any] | None = None,
                 dtype: str = "float64") -> None:
        super().__init__(threads, dtype)
        if framework not in FRAMEWORKS:
            raise DiffcmpError(f"unknown framework {framework!r} (known: {', '.join(FRAMEWORKS)})")
        if mode not in MODES:
            raise DiffcmpError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
        self.function = function
        self.framework = framework
        #: ``"rev"``: the gradient as the function gives it (reverse mode or hand-written), with
        #: the second-order phases; ``"fwd"``: the gradient by forward mode, nothing else.
        self.mode = mode
        #: Your own Hessian-vector product, ``hvp(v, **args)`` (the ``"hvp"`` phase when given).
        self.hvp = hvp
        self.offers = frozenset({"gradient", "hessian", "hvp"} if mode == "rev"
                                and dtype == "float64" else {"gradient"})
        #: How the gradient was taken (set by :meth:`prepare_at`: autograd or hand-written).
        self.gradient = ""
        self._data: dict[str, Any] = {}
        #: The data the function is called with when graded beside a symbolic loss (their own
        #: dtypes, where the lowered case has float64 copies); set by :func:`diffcmp.check`.
        self.data: dict[str, Any] | None = None
        self._names = accepted(function)

    def call(self, **kwargs: Any) -> Any:
        """The function on the keyword arguments its signature names (all with ``**kwargs``)."""
        if self._names is None:
            return self.function(**kwargs)
        return self.function(**{k: v for k, v in kwargs.items() if k in self._names})

    def missing(self, params: Iterable[str]) -> list[str]:
        """The params the function's signature does not name (it could not receive them)."""
        return [] if self._names is None else [p for p in params if p not in self._names]

    def describe(self) -> str:
        """One line for the report: whose function, which framework, how its gradient came."""
        name = getattr(self.function, "__qualname__", type(self.function).__name__)
        return (f"your function {name} ({self.framework}, {self.dtype}); gradient: "
                f"{self.gradient or 'not taken'}")

    def prepare(self, problem: Problem) -> Prepared:
        """The function on a lowered case's params and data (the data given to
        :func:`diffcmp.check`, with their own dtypes, where it set :attr:`data`)."""
        layout = Layout.of_problem(problem)
        if self.data is not None:
            layout = Layout(layout.shapes, {**layout.data, **self.data}, layout.point)
        return self.prepare_at(layout)

    def prepare_at(self, layout: Layout) -> Prepared:
        """The function on ``layout``: its first call (on inputs that track no gradient) decides
        autograd or hand-written; a hand-written function always gets such inputs."""
        prepared = Prepared(inputs=None, loss=None, grad=None, read=None)
        with prepared.step("build"):
            self._data = {k: self._convert(v, grad=False, param=False)
                          for k, v in layout.data.items()}
        with prepared.step("first call"):  # on plain inputs: hand-written code may want them
            with self._context():
                first = self._call(self._inputs(layout, layout.point, grad=False))
            handwritten = _is_pair(first, len(layout.shapes) == 1)
        if not handwritten and self.framework == "numpy":
            raise DiffcmpError(
                "the function returned only its loss, and its inputs are NumPy arrays: diffcmp "
                "cannot differentiate NumPy code. Return (loss, grads) with a hand-written "
                "gradient, or pass PyTorch tensors or JAX arrays (or framework='torch'/'jax')")
        if self.mode == "fwd":
            if handwritten:
                raise UnsupportedError(
                    "your function returns (loss, grads), a hand-written gradient: there is no "
                    "forward mode to check (return the loss alone from PyTorch or JAX code)")
            self.gradient = FORWARD[self.framework]
            grad = forward_gradient(self.framework, layout.shapes, self._call, self._context)
        else:
            self.gradient = HAND_WRITTEN if handwritten else AUTOGRAD[self.framework]
            grad = self._handwritten if handwritten else self._autograd(layout)
            prepared.phases.update(self._second_order(layout, handwritten))

        def inputs(x: np.ndarray) -> dict[str, Any]:
            with self._context():
                return self._inputs(layout, x, grad=not handwritten)

        def loss(params: dict[str, Any]) -> Any:
            with self._context():
                out = self._call(params)
                return self._wait(out[0] if handwritten else out)

        def read(out: tuple[Any, Mapping[str, Any]]) -> tuple[float, np.ndarray]:
            value, grads = out
            return (float(_scalar(value, "the function's value").real),
                    flat_values(grads, layout.shapes))

        prepared.inputs, prepared.loss, prepared.grad, prepared.read = inputs, loss, grad, read
        return prepared

    def value_at(self, layout: Layout) -> Callable[[np.ndarray], np.ndarray]:
        """``f(x)``: the function's loss at a flat point, float64 or complex128 (for finite
        differences and the complex step, which passes the data as complex too, so that the
        framework does not refuse to mix them), with no gradient tracking; a 0-d array."""
        real = {k: self._convert(v, grad=False, param=False, exact=True)
                for k, v in layout.data.items()}
        data: dict[bool, dict[str, Any]] = {False: real}

        def f(x: np.ndarray) -> np.ndarray:
            complex_ = bool(np.iscomplexobj(x))
            if complex_ not in data:
                data[complex_] = {k: self._convert(data_value(v, complex_=True), grad=False,
                                                   param=False, exact=True)
                                  for k, v in layout.data.items()}
            with self._context(), self._no_grad():
                params = {k: self._convert(v, grad=False, exact=True)
                          for k, v in layout.split(x).items()}
                out = self.call(**params, **data[complex_])
                if isinstance(out, tuple | list):
                    out = out[0]
                return _scalar(out, "the function's value")

        return f

    def _second_order(self, layout: Layout, handwritten: bool) -> dict[str, Phase]:
        """The framework's Hessian and product (:mod:`~diffcmp.engines.user_modes`), or none
        for a hand-written gradient; your own product (:attr:`hvp`) in place of the
        framework's."""
        if handwritten:
            phases = refused_phases(lambda phase: (
                "your function returns (loss, grads), a hand-written gradient: there is no "
                f"framework {'Hessian' if phase == 'hessian' else 'Hessian-vector product'} to "
                "grade (return the loss alone from PyTorch or JAX code"
                + (")" if phase == "hessian" else ", or pass hvp= to grade your own)")))
        else:
            phases = framework_phases(self.framework, layout.shapes, self._call, self._context)
        if self.hvp is not None:
            own, names = self.hvp, accepted(self.hvp)
            single = len(layout.shapes) == 1

            def product(params: dict[str, Any], direction: dict[str, Any]) -> Any:
                v = {k: t.detach() if hasattr(t, "detach") else t for k, t in direction.items()}
                args = {**params, **self._data}
                with self._context():
                    return self._wait(own(next(iter(v.values())) if single else v, **(
                        args if names is None else {k: a for k, a in args.items()
                                                    if k in names})))

            phases["hvp"] = Phase(product, lambda out: flat_values(
                out, layout.shapes, "your Hessian-vector product"))
        return phases

    # -- the framework's side --
    def _call(self, params: Mapping[str, Any]) -> Any:
        return self.call(**params, **self._data)

    def _inputs(self, layout: Layout, x: np.ndarray, grad: bool) -> dict[str, Any]:
        return {k: self._convert(v, grad) for k, v in layout.split(x).items()}

    def _convert(self, value: Any, grad: bool, param: bool = True, exact: bool = False) -> Any:
        """One value in the framework's type: a param as a float64 (or complex128) array or
        tensor; data as :func:`data_value` says (a number as a plain number for PyTorch and
        NumPy), a value that is no array as it is; real ones in :attr:`dtype` unless ``exact``
        (finite differences of the function evaluate it in float64)."""
        if param:
            array = np.array(value, dtype=np.complex128 if np.iscomplexobj(value) else np.float64)
        else:
            value = data_value(value)
            if not isinstance(value, np.ndarray | np.generic) or value.dtype.kind not in "fciub":
                return value
            array = np.array(value)
        narrow = self.dtype if array.dtype.kind == "f" and not exact else "float64"
        if self.framework == "torch":
            if array.ndim == 0 and not param:
                return array.item()
            torch = importlib.import_module("torch")
            return torch.from_numpy(array).to(getattr(torch, narrow) if narrow != "float64"
                                              else None).requires_grad_(grad)
        if self.framework == "jax":
            with self._context():
                jnp = importlib.import_module("jax.numpy")
                return jnp.asarray(array, dtype=None if narrow == "float64" else narrow)
        if narrow != "float64":
            array = np.asarray(round_to(array, narrow), dtype=np.float32)
        return array[()] if array.ndim == 0 else array

    def _context(self) -> AbstractContextManager[Any]:
        if self.framework == "jax":
            return importlib.import_module("jax").enable_x64(True)
        return nullcontext()

    def _no_grad(self) -> AbstractContextManager[Any]:
        if self.framework == "torch":
            return importlib.import_module("torch").no_grad()
        return nullcontext()

    def _wait(self, value: Any) -> Any:
        if self.framework == "jax":
            return importlib.import_module("jax").block_until_ready(value)
        return value

    def _handwritten(self, params: dict[str, Any]) -> Any:
        with self._context():
            return self._wait(tuple(self._call(params)))

    def _autograd(self, layout: Layout) -> Callable[[dict[str, Any]], Any]:
        if self.framework == "torch":
            torch = importlib.import_module("torch")

            def torch_grad(leaves: dict[str, Any]) -> Any:
                value = self._call(leaves)
                if not isinstance(value, torch.Tensor):
                    raise DiffcmpError(f"the function returned a {type(value).__name__}, not a "
                                       "tensor: PyTorch cannot differentiate it")
                _scalar(value, "the function's value")
                if not value.requires_grad:  # no path from the params to the loss
                    return value.detach(), {k: torch.zeros_like(v) for k, v in leaves.items()}
                grads = torch.autograd.grad(value, list(leaves.values()), allow_unused=True,
                                            materialize_grads=True)
                return value.detach(), dict(zip(leaves, grads, strict=True))

            return torch_grad
        jax = importlib.import_module("jax")
        with jax.enable_x64(True):
            value_and_grad = jax.value_and_grad(lambda params: self._call(params))

        def jax_grad(params: dict[str, Any]) -> Any:
            with jax.enable_x64(True):
                return jax.block_until_ready(value_and_grad(params))

        return jax_grad


__all__ = ["FORWARD", "FRAMEWORKS", "HAND_WRITTEN", "MODES", "Layout", "UserCodeEngine",
           "accepted", "data_value", "detect_framework"]
