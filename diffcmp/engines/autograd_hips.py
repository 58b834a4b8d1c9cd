"""``autograd``: the loss built from HIPS autograd's ``autograd.numpy`` ops
(:mod:`diffcmp.ops.autograd`), ``autograd.value_and_grad``, float64.

An :class:`~diffcmp.engines.optable.OpTableEngine`. autograd comes with the extra
``diffcmp[autograd]`` (or ``diffcmp[engines]``): this module imports it through
:func:`~diffcmp.engines.optional.require` on first use, so where it is missing every case is
``unsupported`` with the command that installs it. autograd traces the loss anew on every call
(no compilation): there is nothing to prepare beyond the first call. Its Hessian is
``autograd.hessian`` (reverse over reverse), its Hessian-vector product
``autograd.hessian_vector_product``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import UnsupportedError
from .optable import OpTableEngine
from .optional import OptionalOps, require


def _autograd() -> Any:
    return require("autograd", "autograd")


class AutogradEngine(OpTableEngine):
    """HIPS autograd on float64 NumPy arrays."""

    name = "autograd"
    OPS = OptionalOps("diffcmp.ops.autograd", "autograd", "autograd")

    @classmethod
    def start(cls) -> None:
        """Import autograd as the worker starts (nothing where it is missing: each case says
        so)."""
        try:
            cls.OPS.load()
        except UnsupportedError:
            pass

    @contextmanager
    def running(self) -> Iterator[None]:
        """NumPy's floating-point warnings off (a ``nan`` or ``inf`` is graded, not printed), and
        autograd's warning for a loss that does not depend on its params (its gradient: 0)."""
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Output seems independent of input",
                                    UserWarning)
            yield

    def array(self, values: np.ndarray) -> np.ndarray:
        """autograd differentiates plain float64 NumPy arrays."""
        return np.asarray(values, dtype=np.float64)

    def value_and_grad(self, loss: Callable[[tuple[Any, ...]], Any]) -> Callable[
            [tuple[Any, ...]], tuple[Any, Sequence[Any]]]:
        """``autograd.value_and_grad`` over the tuple of params (its gradient: a tuple)."""
        return _autograd().value_and_grad(loss)

    def to_numpy(self, value: Any) -> np.ndarray:
        """A value as a float64 array."""
        return np.asarray(value, dtype=np.float64)

    def hessian(self, loss: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``autograd.hessian`` of the loss of the flat parameters."""
        return _autograd().hessian(loss)

    def hvp(self, loss: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        """``autograd.hessian_vector_product``: the gradient of ``grad(loss)(x) . v``."""
        return _autograd().hessian_vector_product(loss)
