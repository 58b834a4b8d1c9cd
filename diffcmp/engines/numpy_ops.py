"""The language's operations on NumPy arrays: float64 (``OPS``) and complex-step (``COMPLEX_OPS``),
and the driver the finite-difference engines share (:class:`PerturbationEngine`).

Shared by the finite-difference engines. ``COMPLEX_OPS`` overrides the ops whose float form is not
analytic with analytic ones, and refuses the ops that have none (``abs``, ``max``, ``where``...):
complex step is exact only for analytic losses.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.special

from ..errors import UnsupportedError
from ..language import literal_to_float
from ..problem import Problem
from .base import Engine, Prepared


def _logsumexp(v: np.ndarray) -> Any:
    return scipy.special.logsumexp(v)


#: The language's operations in NumPy float64 (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": lambda value: np.float64(literal_to_float(value)),
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "pow": np.power,
    "neg": np.negative,
    "matmul": np.matmul,
    "transpose": np.transpose,
    "index": lambda a, key: a[key],
    "stack": np.stack,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "sqrt": np.sqrt,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "abs": np.abs,
    "sign": np.sign,
    "erf": scipy.special.erf,
    "loggamma": scipy.special.gammaln,
    "heaviside": lambda x: np.heaviside(x, 0.5),
    "sigmoid": scipy.special.expit,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "relu": lambda x: np.maximum(x, 0.0),
    "maximum": np.maximum,
    "minimum": np.minimum,
    "atan2": np.arctan2,
    "where": np.where,
    "sum": np.sum,
    "mean": np.mean,
    "prod": np.prod,
    "norm": lambda a: np.sqrt(np.sum(a * a)),
    "logsumexp": _logsumexp,
    "amax": np.max,
    "amin": np.min,
    "dot": lambda a, b: np.sum(a * b),
}


def _complex_logsumexp(v: np.ndarray) -> Any:
    shift = np.max(v.real)  # any real constant shift is exact, so the step passes through
    return shift + np.log(np.sum(np.exp(v - shift)))


def _complex_atan2(y: Any, x: Any) -> Any:
    return 2 * np.arctan(y / (np.sqrt(x * x + y * y) + x))  # analytic off the negative x-axis


#: Analytic replacements for complex step (one line each).
_ANALYTIC = {
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "logsumexp": _complex_logsumexp,
    "loggamma": scipy.special.loggamma,
    "atan2": _complex_atan2,
}

#: Ops with no analytic form: complex step cannot differentiate through them.
NOT_ANALYTIC = ("abs", "sign", "relu", "maximum", "minimum", "amax", "amin", "where", "heaviside",
                "lt", "le", "gt", "ge", "eq", "ne")


class _Refuse(Mapping[str, Callable[..., Any]]):
    """Raises :class:`UnsupportedError` when the compiler asks for a non-analytic op."""

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name in NOT_ANALYTIC:
            raise UnsupportedError(f"'{name}' is not analytic, and complex step needs an "
                                   "analytic loss")
        raise KeyError(name)

    def __iter__(self) -> Any:
        return iter(NOT_ANALYTIC)

    def __len__(self) -> int:
        return len(NOT_ANALYTIC)


COMPLEX_OPS: ChainMap[str, Callable[..., Any]] = ChainMap(
    _ANALYTIC, {k: v for k, v in OPS.items() if k not in NOT_ANALYTIC}, _Refuse())


class PerturbationEngine(Engine):
    """Gradients from loss evaluations at perturbed points, one component at a time.

    The finite-difference engines share this driver; each says which ops and dtype its loss
    uses and how one component comes out of loss evaluations (:meth:`component`).
    """

    ops: ClassVar[Mapping[str, Callable[..., Any]]]
    dtype: ClassVar[type]

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
