"""The case-file expression language: :mod:`~diffcmp.lang.parse` checks a loss string,
:mod:`~diffcmp.lang.compile` checks its shapes and size and compiles it against one backend's
op table (:mod:`diffcmp.ops`)."""

from .compile import (
    MAX_ARRAY_OPS,
    MAX_SCALAR_OPS,
    Analysis,
    analyze,
    compile_expression,
    result_shape,
)
from .constants import MAX_LITERAL_BITS
from .names import (
    ALONG_AXIS,
    AXIS_FUNCTIONS,
    CONSTANTS,
    ELEMENTWISE,
    FUNCTION_NAMES,
    LITERAL_ARGUMENT,
    MULTI,
    REDUCTIONS,
)
from .parse import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_SOURCE_CHARS,
    Expression,
    parse,
)

__all__ = ["ALONG_AXIS", "AXIS_FUNCTIONS", "CONSTANTS", "ELEMENTWISE", "FUNCTION_NAMES",
           "LITERAL_ARGUMENT", "MAX_ARRAY_OPS", "MAX_DEPTH", "MAX_LITERAL_BITS", "MAX_NODES",
           "MAX_SCALAR_OPS", "MAX_SOURCE_CHARS", "MULTI", "REDUCTIONS", "Analysis", "Expression",
           "analyze", "compile_expression", "parse", "result_shape"]
