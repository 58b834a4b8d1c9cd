"""The NumPy operations in a lower precision (issue 21): what ``fd-central[float32]`` evaluates.

Each operation's result is rounded to the dtype (to nearest, ties to even) and held as float32,
the way a framework computing in that dtype rounds every operation once; the operations
themselves run on float32 arrays (NumPy's own float32 kernels, or a float64 one whose result is
rounded, for SciPy's special functions and the linear algebra). That is the simulation of low
precision by rounding each result ("chop": Higham & Pranesh, Simulating low precision
floating-point arithmetic, SIAM J. Sci. Comput. 41(5), 2019), which needs no bfloat16 kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def rounded(value: Any, dtype: str) -> Any:
    """``value`` rounded to ``dtype`` (``float32`` or ``bfloat16``) and held as float32: floating
    arrays and scalars; anything else (booleans, integers, tuples) as it is."""
    if isinstance(value, float):
        value = np.float64(value)
    if not isinstance(value, np.ndarray | np.generic) or value.dtype.kind != "f":
        return value
    scalar = isinstance(value, np.generic)
    if dtype == "bfloat16":
        import ml_dtypes  # JAX's own dependency: NumPy's bfloat16

        value = np.asarray(value).astype(ml_dtypes.bfloat16)
    out = np.asarray(value, dtype=np.float32)
    return out[()] if scalar else out


def rounded_ops(ops: Mapping[str, Callable[..., Any]],
                dtype: str) -> dict[str, Callable[..., Any]]:
    """``ops`` with every result rounded to ``dtype`` (:func:`rounded`)."""
    def wrap(op: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            return rounded(op(*args), dtype)
        return call

    return {name: wrap(op) for name, op in ops.items()}


__all__ = ["rounded", "rounded_ops"]
