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

from ._version import __version__
from .api import Options, compare, run_cases, run_suite, sweep
from .cases import Case, Sample, load_case, load_cases
from .checking import assert_gradients_agree, check
from .errors import CaseError, DiffcmpError, ExpressionError, UndefinedError, UnsupportedError
from .registry import ENGINE_NAMES
from .report.folder import write_report
from .result import Result
from .symbolic.problem import matrix, vector

__all__ = [
    "ENGINE_NAMES",
    "Case",
    "CaseError",
    "DiffcmpError",
    "ExpressionError",
    "Options",
    "Result",
    "Sample",
    "UndefinedError",
    "UnsupportedError",
    "__version__",
    "assert_gradients_agree",
    "check",
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
