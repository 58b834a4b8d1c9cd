"""``lambdify`` with diffcmp's op tables: SymPy expressions compiled to NumPy or mpmath code.

The functions SymPy's printers leave as plain calls (our ``Sigmoid``, ``DiracDelta`` in a
derivative, ...) are taken from the backend's op table (:mod:`diffcmp.ops`), through one table of
printed names (``PRINTED``), so every backend implements each operation once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from ..ops import mpmath as mpmath_ops
from ..ops import numpy as numpy_ops
from .cse import needed
from .derive import Gradient

#: Names SymPy's printers print as plain calls -> the op that implements them (one line each).
PRINTED: dict[str, str] = {
    "exp": "exp",
    "sinh": "sinh",
    "cosh": "cosh",
    "Sigmoid": "sigmoid",
    "Softplus": "softplus",
    "DiracDelta": "dirac_delta",
    "Heaviside": "heaviside",
    "log1p": "log1p",
    "sign": "sign",
    "erf": "erf",
    "lgamma": "loggamma",
    "loggamma": "loggamma",
    "polygamma": "polygamma",
    "expm1": "expm1",
    "log2": "log2",
    "log10": "log10",
    "hypot": "hypot",
    "RealCbrt": "cbrt",
    "SincPi": "sinc",
    "erfc": "erfc",
    "erfinv": "erfinv",
    "LogAbsGamma": "gammaln",
    "Floor": "floor",
    "Ceil": "ceil",
}


def _select(condlist: list[Any], choicelist: list[Any], default: Any = 0) -> Any:
    # SymPy folds a where() inside a condition into a Piecewise of booleans, which NumPy's
    # printer evaluates to a float array (its default is nan); np.select wants booleans
    return np.select([np.asarray(c, dtype=bool) for c in condlist], choicelist, default=default)


#: The backends ``lambdify`` compiles to: (op table, SymPy's module name, printer fixes).
BACKENDS: dict[str, tuple[Mapping[str, Callable[..., Any]], str, dict[str, Any]]] = {
    "numpy": (numpy_ops.OPS, "numpy", {"select": _select}),
    "mpmath": (mpmath_ops.OPS, "mpmath", {}),
}


def modules(backend: str) -> list[Any]:
    """``lambdify``'s ``modules`` for ``backend``: our printed names, then SymPy's module."""
    ops, module, fixes = BACKENDS[backend]
    logsumexp, stack = ops["logsumexp"], ops["stack"]
    functions = {name: ops[op] for name, op in PRINTED.items()}
    functions["LogSumExp"] = lambda *args: logsumexp(stack(list(args)), None)
    return [{**functions, **fixes}, module]


def _safe_names(args: Sequence[sp.Symbol]) -> dict[sp.Symbol, sp.Symbol]:
    return {symbol: sp.Symbol(f"_a{i}", real=True) for i, symbol in enumerate(args)}


def lambdify_renamed(args: Sequence[sp.Symbol], exprs: Any, backend: str,
                     cse: Any = True) -> Callable[..., Any]:
    """``lambdify(args, exprs)`` with the arguments renamed ``_a0, _a1, ...`` in one ``xreplace``
    pass first: ``lambdify`` would otherwise rename every non-identifier symbol (``w[0]``) with
    one pass over the whole expression per symbol, which takes minutes on a 200 x 20
    least-squares case. ``cse`` is passed on, after the renaming (a callable sees renamed
    expressions)."""
    safe = _safe_names(args)
    renamed = [e.xreplace(safe) for e in exprs] if isinstance(exprs, list) else \
        exprs.xreplace(safe)
    return sp.lambdify(list(safe.values()), renamed, modules=modules(backend), cse=cse,
                       docstring_limit=0)


def lambdify_cse(args: Sequence[sp.Symbol], gradient: Gradient, backend: str,
                 loss_only: bool = False) -> Callable[..., Any]:
    """Compile ``[loss, *gradient]`` (or the loss alone) for ``backend``, reusing the gradient's
    shared ``cse`` (renamed like the arguments, see :func:`lambdify_renamed`)."""
    safe = _safe_names(args)
    replacements, reduced = gradient.cse
    if loss_only:
        replacements, reduced = needed(replacements, reduced[0]), reduced[:1]
    lines = [(lhs, rhs.xreplace(safe)) for lhs, rhs in replacements]
    exprs = [expr.xreplace(safe) for expr in reduced]
    out = exprs[0] if loss_only else exprs
    return sp.lambdify(list(safe.values()), out, modules=modules(backend),
                       cse=lambda _: (lines, out),  # a scalar stays a scalar
                       docstring_limit=0)
