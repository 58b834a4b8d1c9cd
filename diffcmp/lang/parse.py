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
import math
from dataclasses import dataclass

from ..errors import ExpressionError
from ..ops.spec import ELEMENTWISE as _ELEMENTWISE_KIND
from ..ops.spec import REDUCTION, SPEC

MAX_SOURCE_CHARS = 100_000
MAX_NODES = 20_000
MAX_DEPTH = 100

#: Named constants of the language.
CONSTANTS = ("pi", "E")

#: Elementwise functions of one argument: the language name is the op name.
ELEMENTWISE = [op.call for op in SPEC.values()
               if op.kind == _ELEMENTWISE_KIND and op.arity == 1 and op.call]

#: Reductions of one array to a scalar: language name -> op name.
REDUCTIONS = {op.call: op.name for op in SPEC.values()
              if op.kind == REDUCTION and op.arity == 1 and op.call}

#: Functions of two or three arguments: (language name, arity) -> op name.
MULTI = {(op.call, op.arity): op.name for op in SPEC.values() if op.call and op.arity > 1}

FUNCTION_NAMES = frozenset(ELEMENTWISE) | frozenset(REDUCTIONS) | {name for name, _ in MULTI}

BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
          ast.MatMult: "matmul"}
COMPARE = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq",
           ast.NotEq: "ne"}

_DESCRIBE = {
    ast.Lambda: "lambda", ast.ListComp: "a list comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string", ast.NamedExpr: "the walrus operator ':='",
    ast.Starred: "starred arguments", ast.IfExp: "an 'if' expression (use where)",
    ast.BoolOp: "'and'/'or' (use where)", ast.Slice: "slicing", ast.Dict: "a dict",
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
                for part in index.elts if isinstance(index, ast.Tuple) else [index]:
                    if isinstance(part, ast.Slice):
                        raise expr.error("slicing is not part of the language (index single "
                                         "elements, or use sum() and friends)", part)
                    if int_literal(part) is None:
                        raise expr.error("indices must be integer literals, like w[0] or "
                                         "X[1, 2]", part)
                children = [value]
            case ast.Call(func=func, args=args, keywords=keywords):
                if isinstance(func, ast.Attribute) and func.attr != "T":
                    raise expr.error(f"attribute '.{func.attr}' is not allowed (only .T)",
                                     _attribute_name(func))
                if not isinstance(func, ast.Name):
                    what = _DESCRIBE.get(type(func))
                    raise expr.error(f"{what} is not part of the language" if what else
                                     "only the language's functions can be called, by name",
                                     func)
                if func.id not in FUNCTION_NAMES:
                    raise expr.error(f"unknown function '{func.id}'", node)
                if keywords:
                    raise expr.error(f"{func.id}() takes no keyword arguments", keywords[0])
                starred = [arg for arg in args if isinstance(arg, ast.Starred)]
                if starred:
                    raise expr.error(f"{func.id}() takes no starred arguments", starred[0])
                _check_call(expr, node, func.id, len(args))
                children = list(args)
                if func.id == "where":
                    stack.append((args[0], depth + 1, True))
                    children = list(args[1:])
            case _:
                what = _DESCRIBE.get(type(node), f"'{type(node).__name__}'")
                raise expr.error(f"{what} is not part of the language", node)
        stack.extend((child, depth + 1, False) for child in children)
    return names


def _check_call(expr: Expression, node: ast.Call, name: str, nargs: int) -> None:
    if name not in FUNCTION_NAMES:
        raise expr.error(f"unknown function '{name}'", node)
    one = {1} if name in ELEMENTWISE or name in REDUCTIONS else set()
    arities = sorted(one | {arity for fname, arity in MULTI if fname == name})
    if nargs not in arities:
        expected = " or ".join(str(a) for a in arities)
        plural = "" if arities == [1] else "s"
        raise expr.error(f"{name}() takes {expected} argument{plural}, got {nargs}", node)


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


