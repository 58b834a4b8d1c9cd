"""diffcmp: is this gradient right, and what does it cost?

SymPy derives a loss's exact gradient; PyTorch autograd, JAX autograd, SymPy's compiled gradient
and finite differences compute the same gradient, and each is graded against a high-precision
mpmath reference that certifies its own digits, timed, and tabulated.

    >>> import sympy as sp, diffcmp
    >>> w, x, y = sp.symbols("w x y", real=True)
    >>> result = diffcmp.compare((w * x - y) ** 2, params={"w": 1.0}, data={"x": 1.0, "y": 2.0},
    ...                          timing=False)
    >>> result.gradients.query("engine == 'torch'")["value"].tolist()
    [-2.0]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # imported on first use (PEP 562): ``import diffcmp`` stays light
    from .api import Options, compare, run_cases, run_suite, sweep
    from .cases import Case, Sample, load_case, load_cases
    from .checking import assert_gradients_agree, check
    from .engines.base import Engine, Prepared
    from .engines.optable import OpTableEngine
    from .engines.optable_check import check_op_table
    from .errors import (
        CaseError,
        DiffcmpError,
        ExpressionError,
        UndefinedError,
        UnsupportedError,
    )
    from .registry import ENGINE_NAMES
    from .report.folder import write_report
    from .result import Result
    from .symbolic.problem import matrix, vector

#: Where each public name lives, imported the first time it is used, so that importing diffcmp
#: (the pytest plugin in every pytest session, a worker process) loads SymPy, pandas and
#: matplotlib only when something needs them.
_EXPORTS = {
    **dict.fromkeys(("Options", "compare", "run_cases", "run_suite", "sweep"), ".api"),
    **dict.fromkeys(("Case", "Sample", "load_case", "load_cases"), ".cases"),
    **dict.fromkeys(("assert_gradients_agree", "check"), ".checking"),
    **dict.fromkeys(("CaseError", "DiffcmpError", "ExpressionError", "UndefinedError",
                     "UnsupportedError"), ".errors"),
    "ENGINE_NAMES": ".registry",
    **dict.fromkeys(("Engine", "Prepared"), ".engines.base"),
    "OpTableEngine": ".engines.optable",
    "check_op_table": ".engines.optable_check",
    "write_report": ".report.folder",
    "Result": ".result",
    **dict.fromkeys(("matrix", "vector"), ".symbolic.problem"),
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'diffcmp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "ENGINE_NAMES",
    "Case",
    "CaseError",
    "DiffcmpError",
    "Engine",
    "ExpressionError",
    "OpTableEngine",
    "Options",
    "Prepared",
    "Result",
    "Sample",
    "UndefinedError",
    "UnsupportedError",
    "__version__",
    "assert_gradients_agree",
    "check",
    "check_op_table",
    "compare",
    "load_case",
    "load_cases",
    "matrix",
    "run_cases",
    "run_suite",
    "sweep",
    "vector",
    "write_report",
]
