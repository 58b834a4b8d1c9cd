"""``reference``: the exact SymPy gradient evaluated with mpmath, at a precision it certifies.

This is the truth every other engine is graded against. The point's float64 values are taken
exactly (every double is an mpmath number). Evaluation starts at ``DPS`` digits and doubles until
two consecutive precisions agree (:mod:`~diffcmp.engines.certify`), up to the case's
``[reference] max_digits``; the digits it needed are recorded with every point.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..errors import UndefinedError
from ..ops import mpmath as mpmath_ops
from ..ops.mpmath import DPS
from ..symbolic.graph import short
from ..symbolic.lambdify import lambdify_cse, lambdify_renamed
from ..symbolic.problem import Problem
from .base import Engine, Prepared
from .certify import MAX_DIGITS, Certified, certify


def _real(value: Any, what: str) -> float:
    number = float(value)
    if not np.isfinite(number):
        raise UndefinedError(f"{what} is {mpmath.nstr(value, 8)}, beyond float64")
    return number


def _beyond(values: list[Any], names: list[str]) -> str:
    """Which certified values float64 cannot hold (``exp(710)``), as text; ``""`` if none. They
    exist, so the point is not undefined; every float64 engine overflows there."""
    over = [f"{name} is {mpmath.nstr(v, 8)}" for name, v in zip(names, values, strict=True)
            if not np.isfinite(float(v))]
    if not over:
        return ""
    more = f" (and {len(over) - 3} more)" if len(over) > 3 else ""
    return "; ".join(over[:3]) + more + ", beyond float64's range"


class ReferenceEngine(Engine):
    """The SymPy gradient (shared ``cse``) evaluated in mpmath at a certified precision."""

    name = "reference"

    def prepare(self, problem: Problem) -> Prepared:
        """Derive (shared), then compile ``[loss, *grad]`` to mpmath with ``lambdify``."""
        prepared = Prepared(inputs=self._inputs, loss=None, grad=None, read=self._read)
        names = ["the loss", *(f"the gradient's {c}" for c in problem.components)]
        gradient = problem.gradient
        args = [*problem.param_symbols, *problem.data_symbols]
        with prepared.step("lambdify"):
            function = lambdify_cse(args, gradient, "mpmath")
            loss_only = lambdify_cse(args, gradient, "mpmath", loss_only=True)
        prepared.prepare_s.update(gradient.steps())
        data = [mpmath.mpf(float(v)) for name in problem.data_values
                for v in problem.data_values[name].ravel()]
        ceiling = int(problem.case.reference.get("max_digits", MAX_DIGITS))

        lazy: list[Any] = []  # without cse, compiled on first need (see _lazy below)
        written = _WrittenLoss(problem)

        def grad(x: list[Any]) -> Any:
            try:
                certified = certify(lambda: function(*x, *data), DPS, ceiling, names)
            except UndefinedError as exc:
                certified = self._lazy(problem, args, lazy, x, data, ceiling, names)
                if certified is None:
                    raise UndefinedError(str(exc), _loss_or_nan(loss_only, x, data, ceiling)) \
                        from None
            prepared.details["digits"] = certified.digits
            prepared.details["overflow"] = _beyond(certified.values, names)
            written.check(x, certified)
            return certified.values

        def loss(x: list[Any]) -> Any:
            with mpmath.workdps(prepared.details.get("digits", DPS)):
                return loss_only(*x, *data)

        prepared.grad, prepared.loss = grad, loss
        return prepared

    @staticmethod
    def _lazy(problem: Problem, args: list[Any], lazy: list[Any], x: list[Any], data: list[Any],
              ceiling: int, names: list[str]) -> Certified | None:
        """The values without the shared ``cse``, which hoists a branch's ``1/x`` out of its
        ``where`` and divides by zero eagerly; unprinted ``where`` branches are evaluated only
        where selected. ``None`` when the loss has no ``where`` or is undefined this way too."""
        if not problem.loss.has(sp.Piecewise):
            return None
        if not lazy:
            gradient = problem.gradient
            lazy.append(lambdify_renamed(args, [gradient.loss, *gradient.components], "mpmath",
                                         cse=False))
        try:
            return certify(lambda: lazy[0](*x, *data), DPS, ceiling, names)
        except UndefinedError:
            return None

    @staticmethod
    def _inputs(x: np.ndarray) -> list[Any]:
        return [mpmath.mpf(float(v)) for v in x]

    @staticmethod
    def _read(values: list[Any]) -> tuple[float, np.ndarray]:
        """The certified values in float64: an infinity where one is beyond float64's range
        (``details["overflow"]`` says which, and what it is)."""
        return float(values[0]), np.array([float(v) for v in values[1:]], dtype=np.float64)


class _WrittenLoss:
    """The loss as the case wrote it, evaluated at the reference's precision: SymPy rewrites
    ``exp(log(w))`` and ``sqrt(w)**2`` to ``w``, which is defined at ``w = -1`` where the written
    loss is not. Where they differ in domain the written form wins (``undefined``)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.seen: dict[bytes, None] = {}

    def check(self, x: list[Any], certified: Certified) -> None:
        """Raise :class:`UndefinedError` when the written loss is undefined at ``x``."""
        problem = self.problem
        key = np.array([float(v) for v in x]).tobytes()
        if problem.expression is None or key in self.seen:
            return
        with mpmath.workdps(certified.digits):
            function = problem.loss_function(mpmath_ops.OPS)  # literals at this precision
            env = {name: _mp(value) for name, value in problem.data_values.items()}
            env.update({name: _mp(part) for name, part in
                        problem.split(np.array([float(v) for v in x])).items()})
            value = function(env)
            if not (isinstance(value, mpmath.mpf) and mpmath.isfinite(value)):
                raise UndefinedError(
                    f"the loss as written is {mpmath.nstr(value, 8)} here (SymPy's rewriting "
                    f"of it, {short(problem.loss)}, is defined, but the written form wins)")
            gap = abs(value - certified.values[0])
            if gap > mpmath.mpf(10) ** -15 * max(abs(value), mpmath.mpf(10) ** -300):
                raise RuntimeError(
                    f"diffcmp bug: the loss as written is {mpmath.nstr(value, 17)} but SymPy's "
                    f"form of it is {mpmath.nstr(certified.values[0], 17)}")
        self.seen[key] = None


def _mp(value: np.ndarray) -> Any:
    """A float64 array as mpmath numbers (an object array; a scalar for shape ())."""
    if value.shape == ():
        return mpmath.mpf(float(value))
    return np.vectorize(lambda v: mpmath.mpf(float(v)), otypes=[object])(value)


def _loss_or_nan(function: Any, x: list[Any], data: list[Any], ceiling: int) -> float:
    try:
        certified = certify(lambda: [function(*x, *data)], DPS, ceiling, ["the loss"])
        return _real(certified.values[0], "the loss")
    except Exception:  # the loss is undefined too, or did not settle: no loss to show
        return float("nan")
