"""The driver the finite-difference engines share: gradients from loss evaluations at perturbed
points, one component at a time."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..symbolic.problem import Problem
from .base import Engine, Prepared


class PerturbationEngine(Engine):
    """Gradients from loss evaluations at perturbed points, one component at a time.

    The finite-difference engines share this driver; each says which ops and dtype its loss
    uses and how one component comes out of loss evaluations (:meth:`component`).
    """

    ops: ClassVar[Mapping[str, Callable[..., Any]]]
    dtype: ClassVar[type]
    subgradient = False  # each component averages its own two sides at a kink

    @abstractmethod
    def component(self, f: Callable[[np.ndarray], Any], x: np.ndarray, i: int) -> float:
        """The ``i``-th gradient component at ``x`` from calls of the loss ``f``."""

    def prepare(self, problem: Problem) -> Prepared:
        """Build the loss over NumPy ``ops`` once; the gradient loops over components."""
        prepared = Prepared(inputs=lambda x: np.array(x, dtype=self.dtype), loss=None,
                            grad=None, read=lambda out: (float(out[0]), np.asarray(out[1])))
        with prepared.step("build"):
            function = problem.loss_function(self.ops)
            data = dict(problem.data_values)

        def f(x: np.ndarray) -> Any:
            return function({**data, **problem.split(x)})

        def loss(x: np.ndarray) -> float:
            with np.errstate(all="ignore"):
                return np.real(f(x))

        def grad(x: np.ndarray) -> tuple[float, np.ndarray]:
            with np.errstate(all="ignore"):
                return np.real(f(x)), np.array([self.component(f, x, i) for i in range(x.size)])

        with prepared.step("first call"):
            loss(prepared.inputs(problem.point))
        prepared.loss, prepared.grad = loss, grad
        return prepared
