"""``sympy``: the exact SymPy gradient, derived element by element and compiled with ``lambdify``
(with ``cse``) to NumPy: the textbook symbolic baseline, whose expression swell the report shows.
Above a size where it would take longer than ``BUDGET_S`` it is ``skipped``, with its estimate."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from ..errors import SkippedError
from ..symbolic.lambdify import lambdify_renamed
from ..symbolic.problem import Problem
from .base import Engine, Phase, Prepared

#: The scalar SymPy gradient is skipped when its estimated preparation is longer than this.
BUDGET_S = 10.0
#: Seconds per scalar operation to derive, ``cse`` and ``lambdify`` (measured here, 2 cores:
#: logistic regression on 1,000 rows, 9,000 scalar operations, 7 to 13 s; least squares 300 x 10,
#: 6,900 operations, 4 to 7 s; see :func:`estimated_seconds`).
SECONDS_PER_OP = 1e-3


#: SymPy's scalar Hessian is skipped when its estimated preparation is longer than this.
HESSIAN_BUDGET_S = 3.0
#: Seconds per gradient operation and second derivative (each gradient component is
#: differentiated by about (n + 1) / 2 symbols; measured here, 2 cores: the logistic map's
#: gradient of 16,576 operations in one parameter, 7 s; GradBench's det, 2,057 operations, 25
#: parameters, 2.5 s: an overestimate there).
SECONDS_PER_SECOND_OP = 4e-4


def estimated_seconds(problem: Problem) -> float:
    """The time SymPy's scalar gradient would take to prepare: about linear in the loss's scalar
    operations (symbolic reverse mode above a few thousand), measured at ``SECONDS_PER_OP``."""
    return problem.scalar_ops * SECONDS_PER_OP


class SympyEngine(Engine):
    """``lambdify(args, [loss, *grad], cse=...)`` evaluated in NumPy float64."""

    offers = frozenset({"gradient", "hessian", "hvp"})

    name = "sympy"

    def prepare(self, problem: Problem) -> Prepared:
        """Derive element by element, then ``lambdify`` to NumPy; skipped (with the estimate)
        where that would take more than ``BUDGET_S``."""
        estimate = estimated_seconds(problem)
        if estimate > BUDGET_S:
            raise SkippedError(
                f"SymPy's scalar gradient would take about {estimate:,.0f} s to derive and "
                f"compile ({problem.scalar_ops:,} scalar operations written out element by "
                f"element, {problem.point.size:,} parameters); skipped above {BUDGET_S:g} s. "
                "The matcalc engine derives the same gradient at array level")
        prepared = Prepared(inputs=self._inputs, loss=None, grad=None, read=self._read)
        steps = problem.gradient.steps()  # derive and cse, timed before and on their own
        with prepared.step("lambdify"):
            function, loss_only, floats = problem.lambdify("numpy")
        prepared.prepare_s.update(steps)
        data = [np.float64(v) for v in floats]

        def grad(x: list[np.float64]) -> Any:
            with np.errstate(all="ignore"):
                return function(*x, *data)

        def loss(x: list[np.float64]) -> Any:
            with np.errstate(all="ignore"):
                return loss_only(*x, *data)

        prepared.grad, prepared.loss = grad, loss
        prepared.phases.update(_second_order(problem, prepared, data))
        return prepared

    @staticmethod
    def _inputs(x: np.ndarray) -> list[np.float64]:
        return [np.float64(v) for v in x]

    @staticmethod
    def _read(values: list[Any]) -> tuple[float, np.ndarray]:
        return float(np.real(values[0])), np.array([np.real(v) for v in values[1:]], dtype=float)


def _second_order(problem: Problem, prepared: Prepared, data: list[np.float64]) -> dict[
        str, Phase]:
    """SymPy's scalar Hessian: each gradient component differentiated again (the upper
    triangle, ``n (n + 1) / 2`` expressions, ``cse`` shared), ``lambdify`` to NumPy, derived
    on first use (its steps timed into ``prepare_s``); skipped (with its estimate) where that
    would take more than ``BUDGET_S``. Its Hessian-vector product is that Hessian times the
    vector."""
    n = problem.point.size
    built: list[Any] = []

    def function() -> Any:
        if not built:
            gradient = problem.gradient
            size = gradient.sizes()["grad_ops"]
            estimate = size * (n + 1) / 2 * SECONDS_PER_SECOND_OP
            if estimate > HESSIAN_BUDGET_S:
                raise SkippedError(
                    f"SymPy's scalar Hessian would take about {estimate:,.1f} s to derive and "
                    f"compile ({n * (n + 1) // 2:,} second derivatives of a gradient of "
                    f"{size:,} operations); skipped above {HESSIAN_BUDGET_S:g} s. The matcalc "
                    "engine derives the Hessian-vector product at array level")
            with prepared.step("derive hessian"):
                symbols = gradient.symbols
                # DiracDelta(x, k), the k-th derivative of the delta, is 0 wherever DiracDelta
                # is (off its kink): lambdify knows the delta of one argument only
                entries = [sp.diff(gradient.components[i], symbols[j]).replace(
                    sp.DiracDelta, lambda a, *k: sp.DiracDelta(a))
                    for i in range(n) for j in range(i, n)]
            with prepared.step("lambdify hessian"):
                args = [*problem.param_symbols, *problem.data_symbols]
                built.append(lambdify_renamed(args, entries, "numpy"))
        return built[0]

    upper = np.triu_indices(n)

    def hessian(x: list[np.float64]) -> np.ndarray:
        values = function()(*x, *data)
        with np.errstate(all="ignore"):
            out = np.zeros((n, n))
            out[upper] = np.real(np.array(values, dtype=complex))
            return out + np.triu(out, 1).T

    def hvp(x: list[np.float64], v: list[np.float64]) -> np.ndarray:
        return hessian(x) @ np.array(v, dtype=np.float64)

    def read(out: np.ndarray) -> np.ndarray:
        return np.asarray(out, dtype=np.float64).ravel()

    return {"hessian": Phase(hessian, read), "hvp": Phase(hvp, read)}
