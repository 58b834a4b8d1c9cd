"""``fd-richardson``: numdifftools' Richardson-extrapolated central differences of the float64
NumPy loss, graded above its own error estimate.

``numdifftools.Gradient(f, method="central", full_output=True)`` (numdifftools 0.11, after
D'Errico's DERIVEST) evaluates central differences at a geometric sequence of steps (its default
``MaxStepGenerator``), extrapolates them (Richardson: each term removes the next even power of
the step from the error) and keeps, per component, the estimate whose error estimate is
smallest; that error estimate (``error_estimate``) comes with it. The grading takes it as the
engine's own floor (:meth:`RichardsonEngine.floors`): a component within its estimate of the
reference passes, as a value within float64 rounding does for the others; beyond it, it is
graded relative to its size at the engine's tolerance. Its Hessian is ``numdifftools.Hessian``
(same method, with its error estimate as the floor), its Hessian-vector product that Hessian
times ``v`` (error ``|E| |v|``). Not a subgradient engine: at a kink each component averages its
own two sides (:attr:`~diffcmp.engines.base.Engine.subgradient`).

numdifftools comes from an optional extra: this module does not import it; :meth:`prepare`
does, through :func:`~diffcmp.engines.optional.require`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import UnsupportedError
from ..grading.grade import Floors
from ..ops.numpy import OPS
from ..symbolic.problem import Problem
from .base import Prepared
from .optional import require
from .perturbation import PerturbationEngine

#: numdifftools' method: central differences (two-sided), extrapolated.
METHOD = "central"


class RichardsonEngine(PerturbationEngine):
    """numdifftools' extrapolated central differences, each component with its error
    estimate (the floor it is graded above)."""

    name = "fd-richardson"
    ops = OPS
    point_type = np.float64

    def __init__(self, threads: int = 1) -> None:
        super().__init__(threads)
        #: The last error estimates by point (and phase, direction): what :meth:`floors`
        #: and :meth:`second_floors` grade above.
        self.errors: dict[tuple[str, bytes, bytes], np.ndarray] = {}

    @classmethod
    def start(cls) -> None:
        """Import numdifftools where the extra is installed; nothing where it is not."""
        try:
            require("numdifftools", "fd-richardson")
        except UnsupportedError:  # missing: each case says so, with the command that installs it
            return

    def prepare(self, problem: Problem) -> Prepared:
        """numdifftools imported (``unsupported`` with the install command where it is
        missing), then the shared driver: the loss over NumPy, built once."""
        self.nd = require("numdifftools", "fd-richardson")
        return super().prepare(problem)

    def _keep(self, phase: str, x: np.ndarray, v: np.ndarray | None, estimate: Any) -> np.ndarray:
        """The estimate's value, its error kept for the floors at ``x`` (along ``v``)."""
        key = (phase, np.asarray(x, dtype=np.float64).tobytes(),
               b"" if v is None else np.asarray(v, dtype=np.float64).tobytes())
        self.errors[key] = np.asarray(estimate.error_estimate, dtype=np.float64)
        return np.asarray(estimate.estimate, dtype=np.float64)

    def _error(self, phase: str, x: np.ndarray, v: np.ndarray | None = None) -> np.ndarray | None:
        return self.errors.get((phase, np.asarray(x, dtype=np.float64).tobytes(),
                                b"" if v is None else np.asarray(v, dtype=np.float64)
                                .tobytes()))

    def gradient(self, f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
        """``numdifftools.Gradient`` (central, Richardson), every component at once."""
        estimate = self.nd.Gradient(f, method=METHOD, full_output=True)(x)
        return np.atleast_1d(self._keep("gradient", x, None, estimate)).ravel()

    def hessian(self, f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
        """``numdifftools.Hessian`` (its default method, extrapolated central second
        differences), ``n x n``."""
        estimate = self.nd.Hessian(f, full_output=True)(x)
        return np.atleast_2d(self._keep("hessian", x, None, estimate))

    def hvp(self, f: Callable[[np.ndarray], Any], x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """:meth:`hessian` times ``v``; its error estimate ``|E| |v|``."""
        estimate = self.nd.Hessian(f, full_output=True)(x)
        hessian = np.atleast_2d(np.asarray(estimate.estimate, dtype=np.float64))
        error = np.atleast_2d(np.asarray(estimate.error_estimate, dtype=np.float64))
        key = ("hvp", np.asarray(x, dtype=np.float64).tobytes(),
               np.asarray(v, dtype=np.float64).tobytes())
        self.errors[key] = np.abs(error) @ np.abs(v)
        return hessian @ v

    def floors(self, floors: Floors, x: np.ndarray, tolerance: float) -> Floors:
        """The case's floors, raised to numdifftools' error estimate of each component at
        ``x`` over ``tolerance``: a component within its error estimate passes."""
        return _raised(floors, self._error("gradient", x), tolerance, "its gradient")

    def second_floors(self, floors: Floors, first: Floors, x: np.ndarray, tolerance: float,
                      phase: str, v: np.ndarray) -> Floors:
        """The product's floors, raised to numdifftools' error estimate of each entry (of
        ``|E| |v|`` along ``v``) over ``tolerance``."""
        error = self._error(phase, x, None if phase == "hessian" else v)
        return _raised(floors, error, tolerance, f"its {phase}")


def _raised(floors: Floors, error: np.ndarray | None, tolerance: float, what: str) -> Floors:
    """``floors`` raised to ``error / tolerance`` where an error estimate was kept."""
    if error is None or floors.grad is None or not tolerance > 0:
        return floors
    own = np.where(np.isfinite(error.ravel()), error.ravel(), np.inf) / tolerance
    return Floors(floors.loss, np.maximum(np.asarray(floors.grad, dtype=float), own),
                  floors.source + f"; fd-richardson adds numdifftools' error estimate of {what}")
