"""``reference``: the exact SymPy gradient evaluated with mpmath at 50 significant digits.

This is the truth every other engine is graded against. The point's float64 values are taken
exactly (every double is an mpmath number), so the reference differs from the true gradient at that
point by rounding at 50 digits only.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np

from ..errors import UndefinedError
from ..ops.mpmath import DPS
from ..symbolic.lambdify import lambdify_cse
from ..symbolic.problem import Problem
from .base import Engine, Prepared


def _real(value: Any, what: str) -> float:
    if isinstance(value, mpmath.mpc):
        if value.imag != 0:
            raise UndefinedError(f"{what} is complex ({mpmath.nstr(value, 6)})")
        value = value.real
    number = float(value)
    if not np.isfinite(number):
        raise UndefinedError(f"{what} is {number}")
    return number


class ReferenceEngine(Engine):
    """The SymPy gradient (shared ``cse``) evaluated in mpmath at ``DPS`` digits."""

    name = "reference"
    tolerance = 0.0
    tolerance_source = "the truth the other engines are graded against"
    summary = f"SymPy's exact gradient evaluated with mpmath at {DPS} significant digits"

    def prepare(self, problem: Problem) -> Prepared:
        """Derive (shared), then compile ``[loss, *grad]`` to mpmath with ``lambdify``."""
        prepared = Prepared(inputs=self._inputs, loss=None, grad=None, read=self._read)
        gradient = problem.gradient
        args = [*problem.param_symbols, *problem.data_symbols]
        with prepared.step("lambdify"):
            function = lambdify_cse(args, gradient, "mpmath")
            loss_only = lambdify_cse(args, gradient, "mpmath", loss_only=True)
        prepared.prepare_s.update(gradient.steps())
        data = [mpmath.mpf(float(v)) for name in problem.data_values
                for v in problem.data_values[name].ravel()]

        def grad(x: list[Any]) -> Any:
            with mpmath.workdps(DPS):
                try:
                    return _guarded(function, *x, *data)
                except UndefinedError as exc:
                    raise UndefinedError(str(exc), _loss_or_nan(loss_only, *x, *data)) from None

        def loss(x: list[Any]) -> Any:
            with mpmath.workdps(DPS):
                return _guarded(loss_only, *x, *data)

        prepared.grad, prepared.loss = grad, loss
        return prepared

    @staticmethod
    def _inputs(x: np.ndarray) -> list[Any]:
        return [mpmath.mpf(float(v)) for v in x]

    @staticmethod
    def _read(values: list[Any]) -> tuple[float, np.ndarray]:
        loss = _real(values[0], "the loss")
        try:
            grad = np.array([_real(v, "the gradient") for v in values[1:]], dtype=np.float64)
        except UndefinedError as exc:
            raise UndefinedError(str(exc), loss) from None
        return loss, grad


def _loss_or_nan(function: Any, *args: Any) -> float:
    try:
        return _real(_guarded(function, *args), "the loss")
    except UndefinedError:
        return float("nan")


def _guarded(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except ZeroDivisionError:
        raise UndefinedError("a division by zero in the loss or its gradient") from None
    except ValueError as exc:
        raise UndefinedError(f"outside the domain: {exc}") from None
