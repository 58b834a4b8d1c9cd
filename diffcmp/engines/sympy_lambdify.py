"""``sympy``: the exact SymPy gradient, compiled with ``lambdify`` (shared ``cse``) to NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..symbolic.lambdify import lambdify_cse
from ..symbolic.problem import Problem
from .base import Engine, Prepared


class SympyEngine(Engine):
    """``lambdify(args, [loss, *grad], cse=...)`` evaluated in NumPy float64."""

    name = "sympy"

    def prepare(self, problem: Problem) -> Prepared:
        """Derive (shared with ``reference``), then ``lambdify`` to NumPy."""
        prepared = Prepared(inputs=self._inputs, loss=None, grad=None, read=self._read)
        gradient = problem.gradient
        args = [*problem.param_symbols, *problem.data_symbols]
        with prepared.step("lambdify"):
            function = lambdify_cse(args, gradient, "numpy")
            loss_only = lambdify_cse(args, gradient, "numpy", loss_only=True)
        prepared.prepare_s.update(gradient.steps())
        data = [np.float64(v) for name in problem.data_values
                for v in problem.data_values[name].ravel()]

        def grad(x: list[np.float64]) -> Any:
            with np.errstate(all="ignore"):
                return function(*x, *data)

        def loss(x: list[np.float64]) -> Any:
            with np.errstate(all="ignore"):
                return loss_only(*x, *data)

        prepared.grad, prepared.loss = grad, loss
        return prepared

    @staticmethod
    def _inputs(x: np.ndarray) -> list[np.float64]:
        return [np.float64(v) for v in x]

    @staticmethod
    def _read(values: list[Any]) -> tuple[float, np.ndarray]:
        return float(np.real(values[0])), np.array([np.real(v) for v in values[1:]], dtype=float)
