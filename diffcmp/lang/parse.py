"""Parsing: a loss string of the case-file language, checked construct by construct, never
``eval``-ed.

A loss such as ``"sum((X @ w - y)**2) / 2"`` is parsed with :mod:`ast` and every node is checked
against the language's fixed set of operations, whose function names come from the one op spec
(:mod:`diffcmp.ops.spec`). Limits (resource bombs are refused before any work is done): the
expression is at most ``MAX_SOURCE_CHARS`` characters, ``MAX_NODES`` syntax nodes and
``MAX_DEPTH`` levels deep. Shapes and sizes are checked by :mod:`diffcmp.lang.compile`.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ExpressionError
from ..ops.spec import (
    ALIASES,
)
from .names import (
    ALONG_AXIS,
    AXIS_FUNCTIONS,
    ELEMENTWISE,
    FUNCTION_NAMES,
    LAYOUT_FUNCTIONS,
    LINALG_FUNCTIONS,
    LITERAL_ARGUMENT,
    MULTI,
    REDUCTIONS,
    SCAN_FUNCTIONS,
)
from .templates import expand

MAX_SOURCE_CHARS = 100_000
MAX_NODES = 20_000
MAX_DEPTH = 100

#: The most dimensions a value has (the case model's limit; NumPy's own was 32 until 2.0).
MAX_DIMENSIONS = 32

BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
          ast.MatMult: "matmul", ast.Mod: "mod"}
COMPARE = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq",
           ast.NotEq: "ne"}

_DESCRIBE = {
    ast.Lambda: "lambda", ast.ListComp: "a list comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string", ast.NamedExpr: "the walrus operator ':='",
    ast.Starred: "starred arguments", ast.IfExp: "an 'if' expression (use where)",
    ast.BoolOp: "'and'/'or' (use where)", ast.Slice: "a slice", ast.Dict: "a dict",
    ast.Set: "a set", ast.List: "a list literal", ast.Tuple: "a tuple",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Subscript: "indexing", ast.FormattedValue: "an f-string",
}


@dataclass(frozen=True)
class Expression:
    """A parsed, checked loss expression of the case-file language."""

    source: str
    tree: ast.expr
    names: frozenset[str]
    origin: str | None = None

    @property
    def text(self) -> str:
        """The source without surrounding whitespace: what was parsed."""
        return self.source.strip()

    def error(self, message: str, node: ast.AST | None = None) -> ExpressionError:
        """An :class:`ExpressionError` naming this expression's file and the node's column."""
        return _error(self.source, message, self.origin, getattr(node, "lineno", None),
                      getattr(node, "col_offset", None))


def _error(source: str, message: str, origin: str | None, line: int | None,
           offset: int | None) -> ExpressionError:
    """An error at 1-based ``line`` and 0-based ``offset`` of the stripped ``source``, located in
    ``source`` as written: ``(column N)``, or ``line L, column N`` in a multi-line loss."""
    if offset is None:
        return ExpressionError(message, origin)
    leading = source[:len(source) - len(source.lstrip())]
    line = (line or 1) + leading.count("\n")
    column = offset + 1 + (len(leading.rsplit("\n", 1)[-1]) if line == 1 + leading.count("\n")
                           else 0)
    if "\n" in source.strip() or line > 1:
        return ExpressionError(f"line {line}, column {column}: {message}", origin)
    return ExpressionError(message, origin, column)


def parse(source: str, origin: str | None = None) -> Expression:
    """Parse ``source`` and check that every construct belongs to the language.

    ``origin`` (a file name) is named in every error. Raises :class:`ExpressionError`.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"must be a string, not {type(source).__name__}", origin)
    if not source.strip():
        raise ExpressionError("is empty", origin)
    if len(source) > MAX_SOURCE_CHARS:
        raise ExpressionError(
            f"is {len(source):,} characters long; the limit is {MAX_SOURCE_CHARS:,}", origin)
    depth = max_bracket_depth(source)
    if depth > MAX_DEPTH:
        raise ExpressionError(f"brackets nest {depth} deep; the limit is {MAX_DEPTH}", origin)
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        text = source.strip()
        offset = len(text) if not exc.offset else exc.offset - 1  # 0: at the end of the text
        message = "invalid syntax" + ("" if exc.msg == "invalid syntax" else f": {exc.msg}")
        if exc.lineno is None or exc.lineno > text.count("\n") + 1:
            exc.lineno, offset = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1])
        raise _error(source, message, origin, exc.lineno, offset) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(
            f"nests too deeply to parse (the limit is {MAX_DEPTH} levels; a chain like "
            "a + b + c + ... nests one level per operator: use sum() over an array)",
            origin) from None
    except ValueError as exc:  # e.g. an integer literal of more than 4300 digits
        raise ExpressionError(f"cannot be parsed: {exc}", origin) from None
    expression = Expression(source, tree, frozenset(), origin)
    tree = expand(tree, expression.error)  # NumPy's module prefixes and templated functions
    expression = Expression(source, tree, frozenset(), origin)
    names = _check(expression)
    return Expression(source, tree, frozenset(names), origin)


def max_bracket_depth(source: str) -> int:
    """The deepest nesting of ``( [ {`` in ``source`` (checked before Python's parser sees it)."""
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _check(expr: Expression) -> set[str]:
    """Walk the tree iteratively; reject anything outside the language; return the names used."""
    names: set[str] = set()
    stack: list[tuple[ast.AST, int, bool]] = [(expr.tree, 0, False)]
    count = 0
    while stack:
        node, depth, in_condition = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise expr.error(f"has more than {MAX_NODES:,} syntax nodes")
        if depth > MAX_DEPTH:
            raise expr.error(f"nests more than {MAX_DEPTH} operations deep (a chain like "
                             "a + b + c + ... nests one level per operator: use sum() over "
                             "an array)", node)
        children: list[ast.AST] = []
        match node:
            case ast.Constant(value=value):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    kind = {str: "strings", bytes: "bytes", complex: "complex numbers"}.get(
                        type(value), f"the constant {value!r}")
                    verb = "is" if kind.startswith("the ") else "are"
                    raise expr.error(f"{kind} {verb} not part of the language", node)
                if not _fits_float(value):
                    text = ast.get_source_segment(expr.text, node) or repr(value)
                    if len(text) > 30:
                        text = f"{text[:20]}... ({len(text)} digits)"
                    raise expr.error(f"the number {text} does not fit in float64", node)
            case ast.Name(id=name):
                names.add(name)
            case ast.BinOp(op=op, left=left, right=right):
                if type(op) not in BINARY:
                    raise expr.error(f"operator {_op_text(op)} is not part of the language", node)
                children = [left, right]
            case ast.UnaryOp(op=op, operand=operand):
                if not isinstance(op, ast.USub | ast.UAdd):
                    raise expr.error(f"operator {_op_text(op)} is not part of the language", node)
                children = [operand]
            case ast.Compare(ops=ops, left=left, comparators=comparators):
                if not in_condition:
                    raise expr.error("comparisons are allowed only as the condition of where()",
                                     node)
                if len(ops) != 1:
                    raise expr.error("chained comparisons are not supported", node)
                children = [left, *comparators]
            case ast.Attribute(value=value, attr=attr):
                if attr != "T":
                    raise expr.error(f"attribute '.{attr}' is not allowed (only .T)",
                                     _attribute_name(node))
                children = [value]
            case ast.Subscript(value=value, slice=index):
                parts = index.elts if isinstance(index, ast.Tuple) else [index]
                for part in parts:
                    _check_index(expr, part)
                children = [value, *(p for p in parts  # integer data (issue 19)
                                     if not isinstance(p, ast.Slice) and int_literal(p) is None)]
            case ast.Call(func=func, args=args, keywords=keywords):
                if isinstance(func, ast.Attribute) and func.attr != "T":
                    raise expr.error(f"attribute '.{func.attr}' is not allowed (only .T)",
                                     _attribute_name(func))
                if not isinstance(func, ast.Name):
                    what = _DESCRIBE.get(type(func))
                    raise expr.error(f"{what} is not part of the language" if what else
                                     "only the language's functions can be called, by name",
                                     func)
                starred = [arg for arg in args if isinstance(arg, ast.Starred)]
                if starred and func.id in FUNCTION_NAMES:
                    raise expr.error(f"{func.id}() takes no starred arguments", starred[0])
                if func.id in LAYOUT_FUNCTIONS | SCAN_FUNCTIONS | LINALG_FUNCTIONS or with_ord(
                        func.id, args, keywords):
                    # arguments checked when compiled (axis=None; norm's ord=inf; einsum's text)
                    stack.extend((arg, depth + 1, False) for arg in [
                        *args, *(k.value for k in keywords if k.arg != "ord")][
                        :1 if func.id == "norm" else None] if not _is_none(arg) and not (
                        func.id == "einsum" and arg is args[0] and _is_text(arg)))
                    continue
                _check_call(expr, node, func.id, len(args))
                _check_keywords(expr, node, func.id, keywords)
                children = list(args)
                if func.id == "where":
                    stack.append((args[0], depth + 1, True))
                    children = list(args[1:])
                elif func.id in LITERAL_ARGUMENT:
                    _check_shape(expr, func.id, args[1])
                    children = [args[0]]
            case ast.List(elts=elts) | ast.Tuple(elts=elts):  # arrays, and layout arguments
                children = list(elts)
            case _:
                what = _DESCRIBE.get(type(node), f"'{type(node).__name__}'")
                raise expr.error(f"{what} is not part of the language", node)
        stack.extend((child, depth + 1, False) for child in children)
    return names


def with_ord(name: str, args: list[ast.expr], keywords: list[ast.keyword]) -> bool:
    """Whether a call is ``norm(x, ord, ...)`` or ``norm(x, ord=...)`` (issue 19)."""
    return name == "norm" and (len(args) > 1 or any(k.arg == "ord" for k in keywords))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'tanh'?"`` for the closest of ``candidates`` to ``word``, or ``""``.

    Close means what :func:`difflib.get_close_matches` finds; among those, the fewest typing
    edits win (a swap of two neighbours is one edit, so ``tahn`` is ``tanh``, not ``tan``),
    then the same length, then difflib's ratio.
    """
    close = difflib.get_close_matches(word, sorted(candidates), n=5)
    if not close:
        return ""
    best = min(close, key=lambda c: (_edits(word, c), abs(len(c) - len(word)),
                                     -difflib.SequenceMatcher(None, word, c).ratio()))
    return f"; did you mean '{best}'?"


def _edits(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of neighbours from ``a`` to ``b``."""
    rows = [list(range(len(b) + 1))]
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (x != y)))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _check_call(expr: Expression, node: ast.Call, name: str, nargs: int) -> None:
    if name not in FUNCTION_NAMES:
        raise expr.error(f"unknown function '{name}'{did_you_mean(name, FUNCTION_NAMES)}", node)
    # NumPy's names take what the language's do, elementwise only (maximum(a, b), never a
    # reduction), and power(a, b) is a ** b
    target = ALIASES.get(name, name)
    one = {1} if target in ELEMENTWISE or (target in AXIS_FUNCTIONS and target == name) else set()
    two = {2} if target in LITERAL_ARGUMENT or target == "pow" else set()
    arities = sorted(one | two | {arity for fname, arity in MULTI if fname == target})
    if nargs not in arities:
        expected = " or ".join(str(a) for a in arities)
        plural = "" if arities == [1] else "s"
        hint = ""
        if name in AXIS_FUNCTIONS and nargs == 2 and 2 not in arities:
            hint = f" (an axis is given by name: {name}(a, axis=1))"
        elif name in LITERAL_ARGUMENT and nargs > 2:
            hint = f" (the shape is one tuple: {name}(a, (2, 3)))"
        raise expr.error(f"{name}() takes {expected} argument{plural}, got {nargs}{hint}", node)


def _check_keywords(expr: Expression, node: ast.Call, name: str,
                    keywords: list[ast.keyword]) -> None:
    """``axis=`` is the only keyword argument, on reductions of one array and softmax: an
    integer literal (negative counts from the end) or, for reductions, ``None``."""
    for i, keyword in enumerate(keywords):
        if keyword.arg is None:
            raise expr.error(f"{name}() takes no ** arguments", keyword)
        if any(keyword.arg == earlier.arg for earlier in keywords[:i]):
            raise expr.error(f"{name}() is given {keyword.arg}= twice", keyword)
        if name not in AXIS_FUNCTIONS:
            raise expr.error(f"{name}() takes no keyword arguments", keyword)
        keepdims = keyword.arg == "keepdims" and name in REDUCTIONS  # issue 19
        if keyword.arg != "axis" and not keepdims:
            raise expr.error(f"{name}() takes no keyword argument '{keyword.arg}' (only axis)"
                             f"{did_you_mean(keyword.arg, ['axis'])}", keyword)
        if len(node.args) > 1:
            raise expr.error(f"{name}() of {len(node.args)} arguments is elementwise and takes "
                             f"no {keyword.arg} (the reduction is {name}(a, axis=...))", keyword)
        value = keyword.value
        if keepdims or (name in REDUCTIONS and isinstance(value, ast.Tuple)):
            continue  # keepdims and a tuple of axes: checked when compiled (issue 19)
        none = isinstance(value, ast.Constant) and value.value is None
        if name in ALONG_AXIS and (none or int_literal(value) is None):
            raise expr.error(f"{name}()'s axis must be an integer literal, like axis=-1 (the "
                             "default)", value)
        if not none and int_literal(value) is None:
            raise expr.error("an axis must be an integer literal or None, like axis=1", value)


def _check_index(expr: Expression, part: ast.AST) -> None:
    """One part of a subscript: an integer literal, or a slice of integer literals with a
    positive step."""
    if not isinstance(part, ast.Slice):  # an integer literal, or integer data (issue 19)
        if int_literal(part) is None and not any(isinstance(x, ast.Name | ast.List)
                                                 for x in ast.walk(part)):
            raise expr.error("indices must be integer literals or slices of them, like w[0], "
                             "X[1, 2], w[1:3] or X[:, 0], or integer data", part)
        return
    for bound in (part.lower, part.upper, part.step):
        if bound is not None and int_literal(bound) is None:
            raise expr.error("slice bounds must be integer literals, like w[1:3] or X[:, 0]",
                             bound)
    step = None if part.step is None else int_literal(part.step)
    if step == 0:
        raise expr.error("a slice's step must not be zero", part.step)


def _check_shape(expr: Expression, name: str, node: ast.AST) -> None:
    """``reshape``'s shape: integer literals (up to ``MAX_DIMENSIONS``), positive or ``-1``
    (once)."""
    parts = node.elts if isinstance(node, ast.Tuple) else [node]
    sizes = [int_literal(part) for part in parts]
    if not 1 <= len(sizes) <= MAX_DIMENSIONS or any(n is None for n in sizes):
        raise expr.error(f"{name}()'s shape must be 1 to {MAX_DIMENSIONS} integer literals, "
                         f"like {name}(a, (2, 3)), {name}(a, (2, 3, 4)) or {name}(a, 6)", node)
    for part, n in zip(parts, sizes, strict=True):
        if n is not None and n < 1 and n != -1:
            raise expr.error(f"{name}()'s sizes must be positive, or -1 (once) for the size "
                             f"that fits, not {n}", part)
    if sizes.count(-1) > 1:
        raise expr.error(f"{name}() takes -1 for at most one size", node)


def _op_text(op: ast.AST) -> str:
    return {ast.FloorDiv: "'//'", ast.Mod: "'%'", ast.BitAnd: "'&'", ast.BitOr: "'|'",
            ast.BitXor: "'^'", ast.LShift: "'<<'", ast.RShift: "'>>'", ast.Not: "'not'",
            ast.Invert: "'~'"}.get(type(op), type(op).__name__)


def _attribute_name(node: ast.Attribute) -> ast.AST:
    """A location at the attribute's name (``x.__class__``: at ``__class__``)."""
    where = ast.Name(id=node.attr)
    where.lineno = node.end_lineno or node.lineno
    where.col_offset = (node.end_col_offset or 0) - len(node.attr)
    return where


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_none(node: ast.AST) -> bool:
    """``None``, or a flag (``keepdims=True``, issue 19): literals checked when compiled."""
    return isinstance(node, ast.Constant) and (node.value is None or type(node.value) is bool)


def _fits_float(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def int_literal(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = int_literal(node.operand)
        return None if inner is None else -inner
    return None


