"""The easiest way to add a framework (issue 20): an engine from an op table.

A plugin subclasses :class:`OpTableEngine` and gives

* ``OPS``: the spec's operation names (:data:`diffcmp.ops.spec.SPEC`) mapped to the framework's
  functions, as the built-in backends do (:mod:`diffcmp.ops.torch`, :mod:`diffcmp.ops.jax`);
* :meth:`~OpTableEngine.array`: a framework array from float64 NumPy values;
* :meth:`~OpTableEngine.value_and_grad`: from ``loss(params)`` (``params`` a tuple of framework
  arrays, one per parameter of the case, in order) a function ``params -> (loss, grads)``;
* :meth:`~OpTableEngine.to_numpy`: a framework value read back as a NumPy array;
* optionally :meth:`~OpTableEngine.trace`: the loss and its gradient traced (compiled) ahead of
  their calls, for a framework that builds graphs;

and the registry's class attributes ``summary``, ``tolerance`` and ``tolerance_source``. Each
case's loss is compiled over ``OPS`` (the expression as written: ``X @ w`` is one ``matmul``); an
op the table lacks makes that case ``unsupported``, naming the op. Second order is optional:
:meth:`~OpTableEngine.hessian` and :meth:`~OpTableEngine.hvp`, given the loss of one flat vector
of every parameter (split with the table's ``index`` and ``reshape``), make the Hessian and the
Hessian-vector product (``unsupported`` while they return ``None``).
:func:`diffcmp.engines.optable_check.check_op_table` tests a table against the spec.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import DiffcmpError, UnsupportedError
from ..symbolic.problem import Problem
from .base import Engine, Phase, Prepared


class Table(Mapping[str, Callable[..., Any]]):
    """A plugin's op table whose missing op is :class:`UnsupportedError` naming it (and why the
    framework lacks it, where ``reasons`` says)."""

    def __init__(self, ops: Mapping[str, Callable[..., Any]], owner: str,
                 reasons: Mapping[str, str] | None = None) -> None:
        self.ops, self.owner, self.reasons = ops, owner, reasons or {}

    def __getitem__(self, name: str) -> Callable[..., Any]:
        try:
            return self.ops[name]
        except KeyError:
            why = f": {self.reasons[name]}" if name in self.reasons else ""
            raise UnsupportedError(f"op '{name}' is not in the op table of {self.owner} "
                                   f"({self.owner}.OPS){why}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)


def split_flat(table: Mapping[str, Callable[..., Any]], x: Any,
               shapes: Sequence[tuple[int, ...]], most: int | None = 2) -> tuple[Any, ...]:
    """The parameters of ``shapes`` from the flat vector ``x`` of all their values (each
    row-major, one after the other), with ``table``'s ``index`` and ``reshape``;
    :class:`UnsupportedError` for a shape of more than ``most`` dimensions (``None``: any)."""
    parts, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        if shape == ():
            parts.append(table["index"](x, start))
        elif most is None or len(shape) <= most:
            part = table["index"](x, slice(start, start + size, 1))
            parts.append(part if len(shape) == 1 else table["reshape"](part, shape))
        else:
            raise UnsupportedError(f"a parameter of shape {shape}: the flat vector is split "
                                   f"with reshape, to {most} dimensions at most")
        start += size
    return tuple(parts)


class OpTableEngine(Engine):
    """An engine made of an op table and three conversions (see the module docstring)."""

    #: The spec's op names mapped to the framework's functions (a subset: the other ops are
    #: ``unsupported``).
    OPS: ClassVar[Mapping[str, Callable[..., Any]]] = {}

    @abstractmethod
    def array(self, values: np.ndarray) -> Any:
        """The framework's array (or scalar, for a 0-d ``values``) of float64 ``values``."""

    @abstractmethod
    def value_and_grad(self, loss: Callable[[tuple[Any, ...]], Any]) -> Callable[
            [tuple[Any, ...]], tuple[Any, Sequence[Any]]]:
        """From ``loss(params)`` a function ``params -> (loss value, gradients)``, one gradient
        per parameter array, of its shape (e.g. ``jax.value_and_grad(loss)``)."""

    @abstractmethod
    def to_numpy(self, value: Any) -> np.ndarray:
        """A framework value (the loss, a gradient) as a NumPy array."""

    def trace(self, function: Callable[[tuple[Any, ...]], Any],
              example: tuple[Any, ...]) -> Callable[[tuple[Any, ...]], Any]:
        """``function`` (the loss, or :meth:`value_and_grad`'s) made ready ahead of its calls on
        params like ``example`` (e.g. a ``tf.function`` traced for their signature), timed as
        the preparation step ``trace``; unchanged, and no such step, unless overridden."""
        return function

    def hessian(self, loss: Callable[[Any], Any]) -> Callable[[Any], Any] | None:
        """From ``loss(x)`` (``x`` a 1-d array of every parameter's values) a function ``x ->
        its Hessian`` (``n x n``, e.g. ``torch.func.hessian(loss)``); ``None``: none (the
        default)."""
        return None

    def hvp(self, loss: Callable[[Any], Any]) -> Callable[[Any, Any], Any] | None:
        """From ``loss(x)`` as for :meth:`hessian` a function ``(x, v) -> H(x) v``; ``None``:
        none (the default)."""
        return None

    @property
    def offers(self) -> frozenset[str]:
        """The gradient, and the second-order phases :meth:`hessian` and :meth:`hvp` give."""
        cls = type(self)
        return frozenset({"gradient"} | {phase for phase in ("hessian", "hvp")
                                         if getattr(cls, phase) is not getattr(OpTableEngine,
                                                                               phase)})

    def prepare(self, problem: Problem) -> Prepared:
        """The loss compiled over :attr:`OPS`, its gradient by :meth:`value_and_grad`; the first
        call timed apart."""
        prepared = Prepared(inputs=None, loss=None, grad=None, read=None)
        names = [v.name for v in problem.params]
        sizes = [v.size for v in problem.params]
        with prepared.step("build"):
            f = problem.loss_function(Table(self.OPS, type(self).__name__))
            data = {name: self.array(np.array(value, dtype=np.float64))
                    for name, value in problem.data_values.items()}

            def loss(params: tuple[Any, ...]) -> Any:
                return f({**data, **dict(zip(names, params, strict=True))})

            grad = self.value_and_grad(loss)

        def inputs(x: np.ndarray) -> tuple[Any, ...]:
            parts = problem.split(np.array(x, dtype=np.float64))
            return tuple(self.array(parts[name]) for name in names)

        def read(out: tuple[Any, Sequence[Any]]) -> tuple[float, np.ndarray]:
            value, grads = out
            grads = list(grads)
            if len(grads) != len(names):
                raise DiffcmpError(f"value_and_grad gave {len(grads)} gradient(s) for "
                                   f"{len(names)} parameter(s)")
            flat = []
            for name, size, g in zip(names, sizes, grads, strict=True):
                part = np.asarray(self.to_numpy(g), dtype=np.float64).ravel()
                if part.size != size:
                    raise DiffcmpError(f"the gradient of {name} has {part.size} value(s), not "
                                       f"{size}")
                flat.append(part)
            return float(np.asarray(self.to_numpy(value), dtype=np.float64)), np.concatenate(
                flat) if flat else np.zeros(0)

        timed_loss = loss
        if type(self).trace is not OpTableEngine.trace:
            example = inputs(problem.point)
            with prepared.step("trace"):
                grad = self.trace(grad, example)
            traced_loss: list[Callable[[tuple[Any, ...]], Any]] = []

            def timed_loss(params: tuple[Any, ...]) -> Any:
                # only timed, never graded: traced on its first call (the timer's warm-up)
                if not traced_loss:
                    with prepared.step("trace"):
                        traced_loss.append(self.trace(loss, example))
                return traced_loss[0](params)

        prepared.inputs, prepared.loss, prepared.grad, prepared.read = (inputs, timed_loss, grad,
                                                                        read)
        with prepared.step("first call"):
            read(grad(inputs(problem.point)))
        prepared.phases.update(self._second_order(problem, loss))
        return prepared

    def _second_order(self, problem: Problem, loss: Callable[[tuple[Any, ...]], Any]) -> dict[
            str, Phase]:
        """The phases :meth:`hessian` and :meth:`hvp` give, over the flat parameters."""
        table = Table(self.OPS, type(self).__name__)
        shapes = [v.shape for v in problem.params]

        def flat_loss(x: Any) -> Any:
            return loss(split_flat(table, x, shapes, most=None))

        def flat(inputs: tuple[Any, ...]) -> Any:
            return self.array(np.concatenate([np.asarray(self.to_numpy(p), dtype=np.float64)
                                              .ravel() for p in inputs]))

        def read(out: Any) -> np.ndarray:
            return np.asarray(self.to_numpy(out), dtype=np.float64).ravel()

        phases: dict[str, Phase] = {}
        hessian_of, hvp_of = self.hessian(flat_loss), self.hvp(flat_loss)
        if hessian_of is not None:
            phases["hessian"] = Phase(lambda inputs: hessian_of(flat(inputs)), read)
        if hvp_of is not None:
            phases["hvp"] = Phase(lambda inputs, v: hvp_of(flat(inputs), flat(v)), read)
        return phases
