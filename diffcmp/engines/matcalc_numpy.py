"""``matcalc``: the gradient derived symbolically at array level, evaluated with NumPy, float64.

Symbolic differentiation as matrix calculus does it (Laue, Mitterreiter and Giesen, NeurIPS 2018;
matrixcalculus.org): the loss as written is one graph of array operations, and reverse mode over
it gives the gradient as another, ``2 * X.T @ (X @ w - y)`` for least squares
(:mod:`diffcmp.matcalc`), derived once, at a cost that does not grow with the data. Evaluating it
is a handful of NumPy calls, the loss and every gradient sharing their common work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..matcalc.evaluate import Program
from ..matcalc.optimise import optimise
from ..ops.numpy import OPS
from ..symbolic.problem import Problem
from .base import Engine, Phase, Prepared


class MatcalcEngine(Engine):
    """The vectorised symbolic gradient (:attr:`Problem.array_gradient`) over NumPy."""

    offers = frozenset({"gradient", "hessian", "hvp"})

    name = "matcalc"

    def prepare(self, problem: Problem) -> Prepared:
        """Derive the vectorised gradient, then flatten the loss and loss-and-gradient graphs
        into lists of NumPy calls."""
        prepared = Prepared(inputs=problem.environment, loss=None, grad=None, read=self._read)
        gradient = problem.array_gradient  # derived once per case, shared with the reference
        prepared.prepare_s["derive arrays"] = gradient.derive_s
        with prepared.step("compile"):
            both = Program(optimise(gradient.outputs)).compile(OPS)
            alone = Program(optimise([gradient.loss])).compile(OPS)

        def grad(env: dict[str, np.ndarray]) -> list[Any]:
            with np.errstate(all="ignore"):
                return both(env)

        def loss(env: dict[str, np.ndarray]) -> Any:
            with np.errstate(all="ignore"):
                return alone(env)[0]

        prepared.grad, prepared.loss = grad, loss
        with prepared.step("first call"):
            grad(problem.environment(problem.point))
        prepared.phases.update(_second_order(problem, prepared))
        return prepared

    @staticmethod
    def _read(values: list[Any]) -> tuple[float, np.ndarray]:
        loss, *grads = values
        return float(loss), np.concatenate([np.asarray(g, dtype=np.float64).ravel()
                                            for g in grads])


def _second_order(problem: Problem, prepared: Prepared) -> dict[str, Phase]:
    """The Hessian-vector product derived at array level
    (:attr:`~diffcmp.symbolic.problem.Problem.array_hvp`: reverse over the vectorised gradient,
    ``X.T @ (X @ v_w * s * (1 - s))`` for logistic regression), compiled to NumPy on first
    use; the Hessian is its product with each unit vector, one column per call."""
    compiled: list[Any] = []
    n = len(problem.components)

    def product() -> Any:
        if not compiled:
            with prepared.step("derive hvp"):
                graphs = problem.array_hvp
            with prepared.step("compile hvp"):
                compiled.append(Program(optimise(graphs.products)).compile(OPS))
        return compiled[0]

    def flat(values: list[Any]) -> np.ndarray:
        return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values])

    units: list[dict[str, np.ndarray]] = []

    def hessian(env: dict[str, np.ndarray]) -> np.ndarray:
        run = product()
        if not units:
            units.extend(problem.tangent_environment(np.eye(1, n, j).ravel())
                         for j in range(n))
        with np.errstate(all="ignore"):
            return np.stack([flat(run({**env, **unit})) for unit in units], axis=1)

    def hvp(env: dict[str, np.ndarray], direction: dict[str, np.ndarray]) -> np.ndarray:
        run = product()
        along = {problem.tangent_names[v.name]: direction[v.name] for v in problem.params}
        with np.errstate(all="ignore"):
            return flat(run({**env, **along}))

    def read(out: np.ndarray) -> np.ndarray:
        return np.asarray(out, dtype=np.float64).ravel()

    return {"hessian": Phase(hessian, read), "hvp": Phase(hvp, read)}
