"""The driver the finite-difference engines share: gradients from loss evaluations at perturbed
points, one component at a time."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..ops.rounded import rounded, rounded_ops
from ..precision import DEFAULT_DTYPE
from ..symbolic.problem import Problem
from .base import Engine, Phase, Prepared


class PerturbationEngine(Engine):
    """Gradients from loss evaluations at perturbed points, one component at a time.

    The finite-difference engines share this driver; each says which ops and dtype its loss
    uses and how one component (:meth:`component`), or the whole gradient (:meth:`gradient`),
    comes out of loss evaluations.
    """

    offers = frozenset({"gradient", "hessian", "hvp"})

    ops: ClassVar[Mapping[str, Callable[..., Any]]]
    #: The NumPy type of the perturbed point (float64, or complex128 for the complex step).
    point_type: ClassVar[type]
    subgradient = False  # each component averages its own two sides at a kink

    @abstractmethod
    def hessian(self, f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
        """The ``n x n`` Hessian at the real point ``x`` from calls of the loss ``f``."""

    @abstractmethod
    def hvp(self, f: Callable[[np.ndarray], Any], x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The Hessian-vector product along the real ``v`` at the real point ``x``."""

    def component(self, f: Callable[[np.ndarray], Any], x: np.ndarray, i: int) -> float:
        """The ``i``-th gradient component at ``x`` from calls of the loss ``f`` (an engine
        gives this, or a whole :meth:`gradient` of its own)."""
        raise NotImplementedError(f"{type(self).__name__} gives no gradient component")

    def gradient(self, f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
        """The gradient at ``x`` from calls of the loss ``f``: :meth:`component` by component,
        unless the engine estimates every component at once."""
        return np.array([self.component(f, x, i) for i in range(x.size)])

    def round_point(self, x: np.ndarray) -> np.ndarray:
        """``x`` as this engine's loss sees it: rounded to its dtype (as it is, in float64)."""
        return x if self.dtype == DEFAULT_DTYPE else rounded(x, self.dtype)

    def prepare(self, problem: Problem) -> Prepared:
        """Build the loss over NumPy ``ops`` once; the gradient loops over components."""
        prepared = Prepared(inputs=lambda x: self.round_point(np.array(x, dtype=self.point_type)),
                            loss=None, grad=None,
                            read=lambda out: (float(out[0]), np.asarray(out[1], dtype=float)))
        with prepared.step("build"):
            ops = self.ops if self.dtype == DEFAULT_DTYPE else rounded_ops(self.ops, self.dtype)
            function = problem.loss_function(ops)
            data = {k: self.round_point(np.asarray(v)) for k, v in problem.data_values.items()}

        def f(x: np.ndarray) -> Any:
            return function({**data, **problem.split(self.round_point(x))})

        def loss(x: np.ndarray) -> float:
            with np.errstate(all="ignore"):
                return np.real(f(x))

        def grad(x: np.ndarray) -> tuple[float, np.ndarray]:
            with np.errstate(all="ignore"):
                return np.real(f(x)), self.gradient(f, x)

        with prepared.step("first call"):
            loss(prepared.inputs(problem.point))
        prepared.loss, prepared.grad = loss, grad

        def hessian(x: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return self.hessian(f, np.real(x).astype(np.float64))

        def hvp(x: np.ndarray, v: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return self.hvp(f, np.real(x).astype(np.float64), np.real(v).astype(np.float64))

        def read(out: np.ndarray) -> np.ndarray:
            return np.asarray(out, dtype=np.float64).ravel()

        prepared.phases.update(hessian=Phase(hessian, read), hvp=Phase(hvp, read))
        return prepared
