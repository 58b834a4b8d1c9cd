"""``sympy``: the exact SymPy gradient, compiled with ``lambdify`` (shared ``cse``) to NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.special

from ..problem import Problem
from ..symbolic import lambdify_cse
from .base import Engine, Prepared


def _logsumexp(*args: Any) -> Any:
    return scipy.special.logsumexp(np.stack(np.broadcast_arrays(*args)), axis=0)


def _dirac_delta(x: Any) -> Any:
    return np.where(x == 0, np.nan, 0.0)


def _select(condlist: list[Any], choicelist: list[Any], default: Any = 0) -> Any:
    # SymPy folds a where() inside a condition into a Piecewise of booleans, which NumPy's
    # printer evaluates to a float array (its default is nan); np.select wants booleans
    return np.select([np.asarray(c, dtype=bool) for c in condlist], choicelist, default=default)


#: lambdify names SymPy's NumPy printer leaves to us (one line each; stable float64 forms).
NUMPY_FUNCTIONS = {
    "Sigmoid": scipy.special.expit,
    "Softplus": lambda x: np.logaddexp(0.0, x),
    "LogSumExp": _logsumexp,
    "DiracDelta": _dirac_delta,
    "select": _select,
    # printed as a call: NumPy's printer would rewrite it to a Piecewise, which takes SymPy
    # seconds for Heaviside(x - Max(...)) (the gradient of max over six elements: 15 s)
    "Heaviside": lambda x, h0=0.5: np.heaviside(x, h0),
    "erf": scipy.special.erf,
    "lgamma": scipy.special.gammaln,
    "loggamma": scipy.special.gammaln,
    "polygamma": scipy.special.polygamma,
}


class SympyEngine(Engine):
    """``lambdify(args, [loss, *grad], cse=...)`` evaluated in NumPy float64."""

    name = "sympy"
    tolerance = 1e-10
    tolerance_source = ("float64 evaluation of the exact gradient: rounding only; "
                        "the ADBench/GradBench rule rho = |a-b| / max(1, |a|+|b|)")
    summary = "SymPy's exact gradient compiled with lambdify (shared cse) to NumPy, float64"

    def prepare(self, problem: Problem) -> Prepared:
        """Derive (shared with ``reference``), then ``lambdify`` to NumPy."""
        prepared = Prepared(inputs=self._inputs, loss=None, grad=None, read=self._read)
        gradient = problem.gradient
        args = [*problem.param_symbols, *problem.data_symbols]
        with prepared.step("lambdify"):
            function = lambdify_cse(args, gradient, [NUMPY_FUNCTIONS, "numpy"])
            loss_only = lambdify_cse(args, gradient, [NUMPY_FUNCTIONS, "numpy"], loss_only=True)
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
