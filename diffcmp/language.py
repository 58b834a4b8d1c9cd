"""The case-file expression language: parsed and checked by diffcmp, never ``eval``-ed.

A loss such as ``"sum((X @ w - y)**2) / 2"`` is parsed with :mod:`ast` and every node is checked
against a fixed set of operations. :func:`compile_expression` then turns the checked tree into a
Python closure over one backend's op table (SymPy, NumPy, PyTorch, JAX: see ``OPS`` in each), so
each engine evaluates the case the way a user of that framework would write it: ``X @ w`` is one
matmul, ``tanh`` of a matrix is one call.

Limits (resource bombs are refused before any work is done):

* the expression is at most ``MAX_SOURCE_CHARS`` characters, ``MAX_NODES`` syntax nodes and
  ``MAX_DEPTH`` levels deep;
* integer powers of literals are computed only when the result stays below ``MAX_LITERAL_BITS``
  bits; other constant arithmetic that overflows is an error;
* written out element by element (as the symbolic reference must), the loss takes at most
  ``MAX_SCALAR_OPS`` scalar operations (:func:`analyze` counts them from the shapes alone,
  before anything is built).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import ExpressionError

MAX_SOURCE_CHARS = 100_000
MAX_NODES = 20_000
MAX_DEPTH = 100
MAX_LITERAL_BITS = 4096
MAX_SCALAR_OPS = 100_000

Shape = tuple[int, ...]
Ops = Mapping[str, Callable[..., Any]]

#: Named constants of the language.
CONSTANTS = ("pi", "E")

#: Elementwise functions of one argument: the language name is the op name.
ELEMENTWISE = (
    "exp log log1p sqrt sin cos tan asin acos atan sinh cosh tanh abs sign erf "
    "sigmoid softplus relu"
).split()

#: Reductions of one array to a scalar: language name -> op name.
REDUCTIONS = {
    "sum": "sum", "mean": "mean", "prod": "prod", "norm": "norm", "logsumexp": "logsumexp",
    "max": "amax", "min": "amin",
}

#: Functions of two or three arguments: (language name, arity) -> op name.
MULTI = {("max", 2): "maximum", ("min", 2): "minimum", ("atan2", 2): "atan2",
         ("dot", 2): "dot", ("where", 3): "where"}

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
                    if _int_literal(part) is None:
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


def _int_literal(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int_literal(node.operand)
        return None if inner is None else -inner
    return None


# --- compilation against one backend ------------------------------------------------------------

Number = int | Fraction | float


@dataclass(frozen=True)
class _Node:
    """A compiled sub-expression: its shape and either a literal value or a closure."""

    shape: Shape
    literal: Number | None = None
    run: Callable[[Mapping[str, Any]], Any] | None = None


Compiled = Callable[[Mapping[str, Any]], Any]


def compile_expression(expr: Expression, ops: Ops, shapes: Mapping[str, Shape]) -> Compiled:
    """Compile ``expr`` into ``f(env) -> scalar`` calling the backend functions in ``ops``.

    ``shapes`` gives the shape of every name (params and data); ``env`` at call time maps the
    same names to backend values. Shapes are checked here, once, with errors that name them;
    so are unknown names and ``MAX_SCALAR_OPS``.
    """
    _check_names(expr, shapes)
    compiler = _Compiler(expr, ops, shapes)
    node = compiler.visit(expr.tree)
    _check_result(expr, node.shape, compiler.scalar_ops)
    return _runner(node, ops)


@dataclass(frozen=True)
class Analysis:
    """What the shapes alone say about an expression: its result shape and its size."""

    shape: Shape
    #: Scalar operations the expression takes when written out element by element (a ``@ b``
    #: of an ``(m, k)`` and a ``(k, n)`` matrix counts ``2 m k n``); ``prod``, ``max`` and
    #: ``min`` of ``n`` elements count ``n**2``, since their symbolic gradients grow so.
    scalar_ops: int


def analyze(expr: Expression, shapes: Mapping[str, Shape]) -> Analysis:
    """Check ``expr`` against ``shapes`` without building anything: names, shapes, size.

    Raises :class:`ExpressionError` for an unknown name, shapes that do not fit, a loss that is
    not a scalar, or one larger than ``MAX_SCALAR_OPS``.
    """
    _check_names(expr, shapes)
    compiler = _Compiler(expr, _SHAPE_ONLY, shapes)
    node = compiler.visit(expr.tree)
    _check_result(expr, node.shape, compiler.scalar_ops)
    return Analysis(node.shape, compiler.scalar_ops)


def result_shape(expr: Expression, shapes: Mapping[str, Shape]) -> Shape:
    """The shape ``expr`` evaluates to, checking every operation's shapes on the way."""
    return _Compiler(expr, _SHAPE_ONLY, shapes).visit(expr.tree).shape


def _check_names(expr: Expression, shapes: Mapping[str, Shape]) -> None:
    unknown = expr.names - set(shapes) - set(CONSTANTS) - FUNCTION_NAMES
    if unknown:
        node = next(n for n in ast.walk(expr.tree) if isinstance(n, ast.Name) and n.id in unknown)
        raise expr.error(f"unknown name '{node.id}' (not a param, data or constant)", node)


def _check_result(expr: Expression, shape: Shape, scalar_ops: int) -> None:
    if scalar_ops > MAX_SCALAR_OPS:
        raise expr.error(f"takes about {scalar_ops:,} scalar operations when written out "
                         f"element by element; the limit is {MAX_SCALAR_OPS:,}")
    if shape != ():
        raise expr.error(f"must reduce to a scalar, but has shape {_shape_text(shape)}; "
                         "wrap it in sum() or mean()")


class _ShapeOnly(dict):
    def __missing__(self, key: str) -> Callable[..., Any]:
        return lambda *args: None


_SHAPE_ONLY = _ShapeOnly()


def _runner(node: _Node, ops: Ops) -> Compiled:
    if node.run is not None:
        return node.run
    value = ops["const"](node.literal)
    return lambda env: value


def _shape_text(shape: Shape) -> str:
    return "scalar" if shape == () else "(" + ", ".join(str(n) for n in shape) + ")"


def _size(shape: Shape) -> int:
    return math.prod(shape)


#: How errors name an op: the operator or the language's function.
_OP_TEXT = {**{op: f"'{symbol}'" for op, symbol in (
    ("add", "+"), ("sub", "-"), ("mul", "*"), ("div", "/"), ("pow", "**"), ("lt", "<"),
    ("le", "<="), ("gt", ">"), ("ge", ">="), ("eq", "=="), ("ne", "!="))},
    **{op: f"{name}()" for (name, _), op in MULTI.items()}}

#: Reductions whose symbolic gradient grows as the square of their input's size.
_QUADRATIC = frozenset({"prod", "amax", "amin"})
_REDUCING = frozenset(REDUCTIONS.values()) | {"dot"}


class _Compiler:
    def __init__(self, expr: Expression, ops: Ops, shapes: Mapping[str, Shape]) -> None:
        self.expr, self.ops, self.shapes = expr, ops, shapes
        self.scalar_ops = 0

    def visit(self, node: ast.AST) -> _Node:
        match node:
            case ast.Constant(value=value):
                return _Node((), literal=value)
            case ast.Name(id="pi" | "E" as name) if name not in self.shapes:
                value = self.ops["const"](name)
                return _Node((), run=lambda env: value)
            case ast.Name(id=name):
                if name not in self.shapes:
                    raise self.expr.error(f"'{name}' is a function, not a value", node)
                return _Node(tuple(self.shapes[name]), run=lambda env: env[name])
            case ast.UnaryOp(op=op, operand=operand):
                inner = self.visit(operand)
                if isinstance(op, ast.UAdd):
                    return inner
                if inner.literal is not None:
                    return _Node((), literal=-inner.literal)
                return self.apply("neg", node, inner)
            case ast.BinOp(op=op, left=left, right=right):
                return self.binary(BINARY[type(op)], node, self.visit(left), self.visit(right))
            case ast.Compare(ops=[op], left=left, comparators=[right]):
                return self.apply(COMPARE[type(op)], node, self.visit(left), self.visit(right))
            case ast.Attribute(value=value):
                inner = self.visit(value)
                return self.apply("transpose", node, inner, shape=inner.shape[::-1])
            case ast.Subscript(value=value, slice=index):
                return self.index(node, self.visit(value), index)
            case ast.Call(func=ast.Name(id=name), args=args):
                return self.call(node, name, [self.visit(arg) for arg in args])
        raise self.expr.error("unexpected construct", node)  # unreachable after _check

    # -- helpers --
    def apply(self, op: str, node: ast.AST, *args: _Node, shape: Shape | None = None,
              raw: tuple[Any, ...] = ()) -> _Node:
        if shape is None:
            shape = self.broadcast(node, op, *args)
        self.count(op, shape, args)
        function = self.ops[op]
        runs = [_runner(arg, self.ops) for arg in args]
        if len(runs) == 1:
            (a,) = runs
            return _Node(shape, run=lambda env: function(a(env), *raw))
        if len(runs) == 2:
            a, b = runs
            return _Node(shape, run=lambda env: function(a(env), b(env), *raw))
        return _Node(shape, run=lambda env: function(*(r(env) for r in runs), *raw))

    def count(self, op: str, shape: Shape, args: tuple[_Node, ...]) -> None:
        """Add the scalar operations of one op to ``scalar_ops`` (see :class:`Analysis`)."""
        if op in ("index", "transpose"):
            return
        if op == "matmul":
            self.scalar_ops += 2 * _size(shape) * args[0].shape[-1]
        elif op in _QUADRATIC:
            self.scalar_ops += _size(args[0].shape) ** 2
        elif op in _REDUCING:  # one operation per element read
            self.scalar_ops += sum(_size(arg.shape) for arg in args)
        else:
            self.scalar_ops += _size(shape)

    def broadcast(self, node: ast.AST, op: str, *args: _Node) -> Shape:
        shapes = [arg.shape for arg in args]
        try:
            return _broadcast_shapes(shapes)
        except ValueError:
            listed = ", ".join(_shape_text(s) for s in shapes)
            raise self.expr.error(f"shapes {listed} do not broadcast in {_OP_TEXT.get(op, op)}",
                                  node) from None

    def binary(self, op: str, node: ast.AST, left: _Node, right: _Node) -> _Node:
        if left.literal is not None and right.literal is not None:
            return _Node((), literal=self.fold(op, node, left.literal, right.literal))
        if op == "matmul":
            return self.apply(op, node, left, right, shape=self.matmul_shape(node, left, right))
        if op == "pow" and right.literal is not None and float(right.literal).is_integer() \
                and abs(right.literal) <= 2**31:
            # integral exponents stay Python ints: x**2 is Pow(x, 2), not Pow(x, 2.0)
            exponent = int(right.literal)
            return self.apply("pow", node, left, shape=left.shape, raw=(exponent,))
        return self.apply(op, node, left, right)

    def matmul_shape(self, node: ast.AST, left: _Node, right: _Node) -> Shape:
        a, b = left.shape, right.shape
        if not a or not b:
            raise self.expr.error("'@' needs vectors or matrices, not scalars", node)
        if a[-1] != b[0]:
            raise self.expr.error(
                f"shapes {_shape_text(a)} @ {_shape_text(b)} do not match "
                f"({a[-1]} columns vs {b[0]} rows)", node)
        return a[:-1] + b[1:]

    def fold(self, op: str, node: ast.AST, a: Number, b: Number) -> Number:
        try:
            if op == "div":
                if b == 0:
                    raise self.expr.error("division by zero in a constant", node)
                both_exact = isinstance(a, int | Fraction) and isinstance(b, int | Fraction)
                return self._finite(node, Fraction(a) / Fraction(b) if both_exact else a / b)
            if op == "pow":
                return self._finite(node, self.fold_pow(node, a, b))
            return self._finite(node, {"add": lambda: a + b, "sub": lambda: a - b,
                                       "mul": lambda: a * b}[op]())
        except OverflowError:
            raise self.expr.error("a constant overflows float64", node) from None
        except KeyError:
            raise self.expr.error(f"'{op}' of two numbers is not defined", node) from None

    def _finite(self, node: ast.AST, value: Number) -> Number:
        """``value`` if float64 can hold it (and it is not a giant exact number), else an error."""
        if isinstance(value, int | Fraction):
            bits = max(Fraction(value).numerator.bit_length(),
                       Fraction(value).denominator.bit_length())
            if bits > MAX_LITERAL_BITS:
                raise self.expr.error(f"a constant is too large ({bits:,} bits; the limit is "
                                      f"{MAX_LITERAL_BITS})", node)
        if not math.isfinite(float(value)):
            raise OverflowError
        return value

    def fold_pow(self, node: ast.AST, a: Number, b: Number) -> Number:
        if isinstance(b, int) and isinstance(a, int | Fraction):
            size = max(abs(Fraction(a).numerator), abs(Fraction(a).denominator), 2).bit_length()
            if size * abs(b) > MAX_LITERAL_BITS:
                raise self.expr.error(
                    f"constant power is too large (about {size * abs(b):,} bits; "
                    f"the limit is {MAX_LITERAL_BITS})", node)
            if a == 0 and b < 0:
                raise self.expr.error("division by zero in a constant", node)
            return Fraction(a) ** b if b < 0 or isinstance(a, Fraction) else a ** b
        if float(a) < 0 and not float(b).is_integer():
            raise self.expr.error("a negative constant to a fractional power is not real", node)
        if float(a) == 0 and float(b) < 0:
            raise self.expr.error("division by zero in a constant", node)
        return float(a) ** float(b)

    def index(self, node: ast.Subscript, value: _Node, index: ast.AST) -> _Node:
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        ints = tuple(_int_literal(part) for part in parts)
        if not value.shape:
            raise self.expr.error("a scalar cannot be indexed", node)
        if len(ints) > len(value.shape):
            raise self.expr.error(
                f"{len(ints)} indices for a value of shape {_shape_text(value.shape)}", node)
        for i, n in zip(ints, value.shape, strict=False):
            if not -n <= i < n:
                raise self.expr.error(
                    f"index {i} is out of range for shape {_shape_text(value.shape)}", node)
        key = ints if len(ints) > 1 else ints[0]
        return self.apply("index", node, value, shape=value.shape[len(ints):], raw=(key,))

    def call(self, node: ast.Call, name: str, args: list[_Node]) -> _Node:
        if name in ELEMENTWISE:
            return self.apply(name, node, *args)
        if len(args) == 1 and name in REDUCTIONS:
            return self.apply(REDUCTIONS[name], node, *args, shape=())
        op = MULTI[(name, len(args))]
        if op == "dot":
            if args[0].shape != args[1].shape or len(args[0].shape) != 1:
                raise self.expr.error(
                    f"dot() needs two vectors of the same length, got shapes "
                    f"{_shape_text(args[0].shape)} and {_shape_text(args[1].shape)}", node)
            return self.apply(op, node, *args, shape=())
        return self.apply(op, node, *args)


def _broadcast_shapes(shapes: list[Shape]) -> Shape:
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise ValueError(shapes)
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def literal_to_float(value: Number | str) -> float:
    """The float64 value of a literal or named constant (shared by numeric backends)."""
    if value == "pi":
        return math.pi
    if value == "E":
        return math.e
    return float(value)
