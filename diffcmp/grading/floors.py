"""The floor each value is graded above: how far float64 rounding of its computation can move it.

ADBench and GradBench grade ``|a - b| / max(1, |a| + |b|)``: nothing below 1 is graded. diffcmp's
floor comes from the case. The loss as written and its vectorised gradient
(with the local derivatives float64 engines compute, ``1 - tanh(a)**2``:
:attr:`~diffcmp.symbolic.problem.Problem.float64_gradient`) are evaluated in float64 beside a
first-order bound on their rounding error (:meth:`~diffcmp.matcalc.evaluate.Program.rounding`,
Wilkinson's running error analysis), in units of the unit roundoff: the magnitude of what the
computation adds up and carries. That magnitude is the floor: a value far below it was computed
by cancellation, and float64 holds it only to ``u * floor``, so a difference below ``tolerance *
floor`` is no fault of the engine; above its floor a value is graded relative to its own size, so
a gradient of 1e-12 that is 100% off is a mismatch. The floor is never above ADBench's 1, so
diffcmp is never laxer than ADBench.
"""

from __future__ import annotations

import numpy as np

from ..matcalc.evaluate import Program
from ..precision import DEFAULT_DTYPE, ROUNDING_ROOM, unit_roundoff
from ..registry import REGISTRY
from ..symbolic.problem import Problem
from .grade import ADBENCH_FLOOR, Floors

SOURCE = "float64 rounding bound of the loss as written and its vectorised gradient, at most 1"
#: The floors of an engine computing in another dtype (issue 21): the same bound, in units of
#: that dtype's unit roundoff (the tolerance says how many), with the rounding of the point,
#: the data and the literals as they are converted counted, so the reference at the float64
#: point grades what the engine could do with the rounded inputs it was given (one reference
#: per point, not one per dtype: the conversion's effect on the gradient is what the bound
#: carries through the gradient's local derivatives) ...
DTYPE_SOURCE = ("rounding bound of the loss as written and its vectorised gradient, the "
                "conversion of the point, the data and the literals to {dtype} counted, at "
                "most {cap:.3g}")
#: ... and at most this: a value computed by cancellation passes float64's grading while its
#: rounding bound B is within 1e-10 / u(float64) of the cap 1 (ADBench's), about 9e5 ulps; an
#: engine in a dtype is graded at ROUNDING_ROOM of its ulps (:func:`diffcmp.precision.
#: dtype_tolerance`), so its floors may rise to 1e-10 / (ROUNDING_ROOM u(float64)), about 1.4e4,
#: to let the same cancellation pass as precision-limited (and no more: ``(1 - cos x) / x**2``
#: at 1e-4, whose bound is 1e8, stays a mismatch in every dtype).
DTYPE_CAP = REGISTRY["torch"].tolerance / (ROUNDING_ROOM * unit_roundoff(DEFAULT_DTYPE))
SECOND_SOURCE = ("float64 rounding bound of the Hessian-vector product derived at array level, "
                 "at most 1")


class FloorFinder:
    """Floors at the points of one problem (its program compiled once)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.reason = ""
        try:
            self._program: Program | None = Program(problem.float64_gradient.outputs)
        except Exception as exc:  # no bound for this loss: ADBench's floor, and why
            self._program, self.reason = None, f"{type(exc).__name__}: {exc}"

    def at(self, x: np.ndarray, dtype: str = DEFAULT_DTYPE) -> Floors:
        """The floors at the flat point ``x`` (ADBench's 1 where no bound is found); for an
        engine computing in another ``dtype`` (issue 21), with the rounding of its inputs as it
        converts them counted too (:data:`DTYPE_SOURCE`)."""
        if self._program is None:
            return Floors(source=f"ADBench's fixed 1 (no rounding bound: {self.reason})")
        try:
            _, bounds = self._program.rounding(self.problem.environment(x), dtype)
        except Exception as exc:
            return Floors(source=f"ADBench's fixed 1 (no rounding bound: {exc})")
        loss, *grads = bounds
        flat = np.concatenate([np.broadcast_to(np.asarray(b, dtype=float), v.shape).ravel()
                               for b, v in zip(grads, self.problem.params, strict=True)])
        flat = np.where(np.isfinite(flat), flat, ADBENCH_FLOOR)
        loss = float(loss) if np.isfinite(loss) else ADBENCH_FLOOR
        if dtype == DEFAULT_DTYPE:
            return Floors(loss=loss, grad=flat, source=SOURCE)
        return Floors(loss=loss, grad=flat, source=DTYPE_SOURCE.format(dtype=dtype, cap=DTYPE_CAP),
                      cap=DTYPE_CAP)

    def second_at(self, x: np.ndarray, tangents: list[np.ndarray]) -> Floors:
        """The floors of the Hessian-vector products along each of ``tangents`` at ``x``, one
        after the other as one flat array (the Hessian's: the unit vectors, its columns; read
        row-major with :meth:`hessian_at`), from the float64 rounding bound of the product
        derived at array level. ADBench's 1 where no bound is found."""
        try:
            program = Program(self.problem.float64_hvp.outputs)
            env = self.problem.environment(x)
            parts = []
            for v in tangents:
                _, bounds = program.rounding({**env, **self.problem.tangent_environment(v)})
                loss, *products = bounds
                parts.append(np.concatenate([
                    np.broadcast_to(np.asarray(b, dtype=float), p.shape).ravel()
                    for b, p in zip(products, self.problem.params, strict=True)]))
        except Exception as exc:  # no bound for this product: ADBench's floor, and why
            return Floors(source=f"ADBench's fixed 1 (no rounding bound: {exc})")
        flat = np.concatenate(parts) if parts else np.zeros(0)
        flat = np.where(np.isfinite(flat), flat, ADBENCH_FLOOR)
        loss = float(loss) if np.isfinite(loss) else ADBENCH_FLOOR
        return Floors(loss=loss, grad=flat, source=SECOND_SOURCE)

    def hessian_at(self, x: np.ndarray) -> Floors:
        """The floors of every Hessian entry at ``x``, row-major (entry ``(i, j)`` is row ``i``
        of the product with the ``j``-th unit vector)."""
        n = len(self.problem.components)
        floors = self.second_at(x, [np.eye(1, n, j).ravel() for j in range(n)])
        if floors.grad is None:
            return floors
        return Floors(floors.loss, floors.grad.reshape(n, n).T.ravel(), floors.source)
