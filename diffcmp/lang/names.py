"""The language's vocabulary: every function name it knows and what it stands for, read from
the one op spec (:mod:`diffcmp.ops.spec`), NumPy's aliases and the templates of
:mod:`diffcmp.lang.templates`."""

from __future__ import annotations

from ..ops.spec import (
    ALIASES,
    ALONG,
    AXIS_OPS,
    COMPOSED,
    LAYOUT,
    LINALG,
    REDUCTION,
    SCAN,
    SPEC,
    STRUCTURE,
)
from ..ops.spec import ELEMENTWISE as _ELEMENTWISE_KIND
from .templates import TEMPLATES

#: Named constants of the language.
CONSTANTS = ("pi", "E")

#: Elementwise functions of one argument: the language name is the op name.
ELEMENTWISE = [op.call for op in SPEC.values()
               if op.kind == _ELEMENTWISE_KIND and op.arity == 1 and op.call]

#: Reductions of one array, over every element or along ``axis=``: language name -> op name.
REDUCTIONS = {op.call: op.name for op in SPEC.values()
              if op.kind == REDUCTION and op.name in AXIS_OPS and op.call}

#: Functions of one array computed along ``axis=`` (default -1), keeping its shape: softmax.
ALONG_AXIS = {op.call: op.name for op in SPEC.values() if op.kind == ALONG and op.call}

#: The functions that take the keyword argument ``axis=`` (the only keyword of the language).
AXIS_FUNCTIONS = frozenset(REDUCTIONS) | frozenset(ALONG_AXIS)

#: Functions of an array and a literal: ``reshape(a, (2, 3))``: language name -> op name.
LITERAL_ARGUMENT = {op.call: op.name for op in SPEC.values() if op.kind == STRUCTURE and op.call}

#: Functions of two or three arrays: (language name, arity) -> op name.
MULTI = {(op.call, op.arity): op.name for op in SPEC.values()
         if op.call and op.arity > 1 and op.name not in AXIS_OPS
         and op.kind not in (STRUCTURE, LAYOUT, SCAN, LINALG)}

#: Structural functions that are reshapes (arrays of any number of dimensions, issue 19): no op
#: of their own in the spec.
RESHAPES = frozenset({"expand_dims", "squeeze"})
#: Structural functions (``stack``, ``flip``, ``diag``...), checked by
#: :mod:`diffcmp.lang.layout` when compiled.
LAYOUT_FUNCTIONS = frozenset(
    op.call for op in SPEC.values() if op.kind == LAYOUT and op.call) | RESHAPES | frozenset(
    COMPOSED)  # and NumPy's names compiled from other structural ops (issue 19)

#: Scans and statistics (issue 19), checked by :mod:`diffcmp.lang.reductions` when compiled.
STATISTICS = frozenset({"var", "std"})  # compiled from other ops
SCAN_FUNCTIONS = frozenset(op.call for op in SPEC.values() if op.kind == SCAN) | STATISTICS

#: Linear algebra (issue 19: ``inv``, ``solve``...), checked by :mod:`diffcmp.lang.linalg`.
LINALG_FUNCTIONS = frozenset(op.call for op in SPEC.values() if op.kind == LINALG and op.call)

FUNCTION_NAMES = (frozenset(ELEMENTWISE) | AXIS_FUNCTIONS | frozenset(LITERAL_ARGUMENT)
                  | {name for name, _ in MULTI} | frozenset(ALIASES) | LAYOUT_FUNCTIONS
                  | frozenset(TEMPLATES) | SCAN_FUNCTIONS | LINALG_FUNCTIONS)
