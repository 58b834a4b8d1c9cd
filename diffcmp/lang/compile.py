"""Compiling a parsed loss against one backend's op table, checking shapes and size on the way.

:func:`compile_expression` turns the checked tree into a Python closure over one backend's
``OPS`` (SymPy, mpmath, NumPy, PyTorch, JAX: :mod:`diffcmp.ops`), so each engine evaluates the
case the way a user of that framework would write it: ``X @ w`` is one matmul, ``tanh`` of a
matrix is one call. :func:`analyze` runs the same checks without building anything.

Limits: integer powers of literals are computed only when the result stays below
``MAX_LITERAL_BITS`` bits (other constant arithmetic that overflows is an error); a non-constant
base takes integer powers up to ``MAX_POWER``; exponentials nest at most ``MAX_EXP_TOWER`` deep;
and the loss takes at most ``MAX_ARRAY_OPS`` operations on elements, counted from the shapes
alone before anything is built (the reference computes each at high precision). Writing the loss
out element by element, as SymPy's scalar form does, is limited separately, to
``MAX_SCALAR_OPS`` (see :attr:`diffcmp.symbolic.problem.Problem.loss`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..ops.spec import ALIASES, ALONG, LAYOUT, REDUCTION, SCAN, SPEC
from . import gather, layout, linalg, reductions
from .constants import Number, fold
from .names import (
    ALONG_AXIS,
    AXIS_FUNCTIONS,
    CONSTANTS,
    ELEMENTWISE,
    FUNCTION_NAMES,
    LAYOUT_FUNCTIONS,
    LINALG_FUNCTIONS,
    LITERAL_ARGUMENT,
    MULTI,
    REDUCTIONS,
)
from .parse import (
    BINARY,
    COMPARE,
    Expression,
    did_you_mean,
    with_ord,
)
from .shapes import Shape, axis_of, broadcast_shapes, index_key, reshaped, shape_text, size

MAX_SCALAR_OPS = 100_000
MAX_ARRAY_OPS = 100_000_000
#: The largest integer power of a non-constant base.
MAX_POWER = 1024
#: The deepest nesting of exponentials (``exp``, ``sinh``, ``cosh``, a power with a non-constant
#: exponent): ``exp(exp(exp(exp(3))))`` has about 10**(2.3e8) digits before its point.
MAX_EXP_TOWER = 3
_GROWING = frozenset({"exp", "expm1", "sinh", "cosh"})
#: Functions whose value is bounded whatever their argument: a tower of exponentials above one
#: starts again from 0 (``cosh(tanh(cosh(cosh(cosh(a)))))`` is no bomb).
_BOUNDED = frozenset({"tanh", "sin", "cos", "sigmoid", "atan", "atan2", "erf", "erfc", "sinc",
                      "softmax", "sign", "heaviside"})

Ops = Mapping[str, Callable[..., Any]]




@dataclass(frozen=True)
class _Node:
    """A compiled sub-expression: its shape and either a literal value or a closure."""

    shape: Shape
    literal: Number | None = None
    run: Callable[[Mapping[str, Any]], Any] | None = None
    #: How many exponentials deep the value is (``exp(exp(w))``: 2), see ``MAX_EXP_TOWER``.
    tower: int = 0


Compiled = Callable[[Mapping[str, Any]], Any]


def compile_expression(expr: Expression, ops: Ops, shapes: Mapping[str, Shape],
                       scalar: bool = True) -> Compiled:
    """Compile ``expr`` into ``f(env) -> scalar`` calling the backend functions in ``ops``.

    ``shapes`` gives the shape of every name (params and data); ``env`` at call time maps the
    same names to backend values. Shapes are checked here, once, with errors that name them;
    so are unknown names and ``MAX_ARRAY_OPS``. ``scalar=False`` lets the result be an array
    (a named intermediate node, ``H = "tanh(X @ W)"``; the loss itself must be a scalar).
    """
    _check_names(expr, shapes)
    compiler = _Compiler(expr, ops, shapes)
    node = compiler.visit(expr.tree)
    _check_result(expr, node.shape if scalar else (), compiler.array_ops)
    return _runner(node, ops)


@dataclass(frozen=True)
class Analysis:
    """What the shapes alone say about an expression: its result shape and its size."""

    shape: Shape
    #: Scalar operations the expression takes when written out element by element: one per
    #: element an elementwise op writes or a reduction reads (``sum(A, axis=1)`` of a
    #: ``(m, n)`` matrix counts ``m n``, like ``sum(A)``); ``a @ b`` of an ``(m, k)`` and a
    #: ``(k, n)`` matrix ``2 m k n``; ``prod``, ``max``, ``min``, ``softmax`` and
    #: ``log_softmax`` ``n**2`` per line of ``n`` elements along their axis (every element for
    #: ``axis=None``), since each result depends on every element of its line and their
    #: symbolic gradients grow so; indexing, slicing, ``.T`` and ``reshape`` count nothing.
    scalar_ops: int
    #: Operations on elements when evaluated as arrays (``prod``, ``max``, ``min`` of ``n``
    #: elements count ``n``): what the reference and the array engine compute.
    array_ops: int = 0


def analyze(expr: Expression, shapes: Mapping[str, Shape]) -> Analysis:
    """Check ``expr`` against ``shapes`` without building anything: names, shapes, size.

    Raises :class:`ExpressionError` for an unknown name, shapes that do not fit, a loss that is
    not a scalar, or one larger than ``MAX_ARRAY_OPS``.
    """
    _check_names(expr, shapes)
    compiler = _Compiler(expr, _SHAPE_ONLY, shapes)
    node = compiler.visit(expr.tree)
    _check_result(expr, node.shape, compiler.array_ops)
    return Analysis(node.shape, compiler.scalar_ops, compiler.array_ops)


def result_shape(expr: Expression, shapes: Mapping[str, Shape]) -> Shape:
    """The shape ``expr`` evaluates to, checking every operation's shapes on the way."""
    return _Compiler(expr, _SHAPE_ONLY, shapes).visit(expr.tree).shape


def _check_names(expr: Expression, shapes: Mapping[str, Shape]) -> None:
    unknown = expr.names - set(shapes) - set(CONSTANTS) - FUNCTION_NAMES
    if unknown:
        node = next(n for n in ast.walk(expr.tree) if isinstance(n, ast.Name) and n.id in unknown)
        hint = did_you_mean(node.id, [*shapes, *CONSTANTS])
        raise expr.error(f"unknown name '{node.id}' (not a param, data or constant){hint}", node)


def _check_result(expr: Expression, shape: Shape, array_ops: int) -> None:
    if array_ops > MAX_ARRAY_OPS:
        raise expr.error(f"takes about {array_ops:,} operations on elements; the limit is "
                         f"{MAX_ARRAY_OPS:,}")
    if shape != ():
        raise expr.error(f"must reduce to a scalar, but has shape {shape_text(shape)}; "
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




#: How errors name an op: the operator or the language's function.
_OP_TEXT = {**{op: f"'{symbol}'" for op, symbol in (
    ("add", "+"), ("sub", "-"), ("mul", "*"), ("div", "/"), ("pow", "**"), ("lt", "<"),
    ("le", "<="), ("gt", ">"), ("ge", ">="), ("eq", "=="), ("ne", "!="), ("mod", "%"))},
    **{op: f"{name}()" for (name, _), op in MULTI.items()}}

#: Ops along an axis whose symbolic gradient grows as the square of the line's length.
_QUADRATIC = frozenset({"prod", "amax", "amin", *(n for n, op in SPEC.items()
                                                    if op.kind in (ALONG, SCAN))})
_REDUCING = frozenset(name for name, op in SPEC.items() if op.kind == REDUCTION)
#: Ops that move elements without computing: they count no scalar operation.
_STRUCTURE = frozenset({"index", "transpose", "reshape"})
#: Structural functions that move elements (issue 19): each element written counts for the
#: arrays, none for the scalar form.
_MOVES = frozenset(n for n, op in SPEC.items() if op.kind == LAYOUT) - {"outer", "kron", "trace"}


class _Compiler:
    def __init__(self, expr: Expression, ops: Ops, shapes: Mapping[str, Shape]) -> None:
        self.expr, self.ops, self.shapes = expr, ops, shapes
        self.scalar_ops = 0
        self.array_ops = 0

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
            case ast.Subscript(value=value):
                inner = self.visit(value)
                if gather.is_indexed(node):  # integer data as an index (issue 19)
                    return gather.subscript(self, node, inner)
                key, shape = index_key(self.expr, node, inner.shape)
                return layout.subscript(self, node, inner, key, shape)
            case ast.List():
                return layout.list_literal(self, node)
            case ast.Tuple():
                raise self.expr.error("a tuple is not a value (an array is a list, [a, b])", node)
            case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords):
                return self.call(node, name, args, keywords)
        raise self.expr.error("unexpected construct", node)  # unreachable after _check

    # -- helpers --
    def apply(self, op: str, node: ast.AST, *args: _Node, shape: Shape | None = None,
              raw: tuple[Any, ...] = (), listed: bool = False) -> _Node:
        if shape is None:
            shape = self.broadcast(node, op, *args)
        self.count(op, shape, args, raw)
        tower = 0 if op in _BOUNDED else max((arg.tower for arg in args), default=0)
        if op in _GROWING or (op == "pow" and len(args) == 2 and args[1].literal is None):
            tower += 1
            if tower > MAX_EXP_TOWER:
                raise self.expr.error(
                    f"exponentials nest {tower} deep (exp(exp(exp(exp(w))))); the limit is "
                    f"{MAX_EXP_TOWER}: such a value has more digits than any precision holds",
                    node)
        function = self.ops[op]
        runs = [_runner(arg, self.ops) for arg in args]
        if listed:  # stack([a, b]), concatenate([a, b], axis): the arguments as one list
            return _Node(shape, run=lambda env: function([r(env) for r in runs], *raw),
                         tower=tower)
        if len(runs) == 1:
            (a,) = runs
            return _Node(shape, run=lambda env: function(a(env), *raw), tower=tower)
        if len(runs) == 2:
            a, b = runs
            return _Node(shape, run=lambda env: function(a(env), b(env), *raw), tower=tower)
        return _Node(shape, run=lambda env: function(*(r(env) for r in runs), *raw),
                     tower=tower)

    def count(self, op: str, shape: Shape, args: tuple[_Node, ...],
              raw: tuple[Any, ...] = ()) -> None:
        """Add the operations of one op to ``scalar_ops`` and ``array_ops`` (see
        :class:`Analysis`)."""
        if op in _STRUCTURE:
            return
        if op in _MOVES:
            self.array_ops += size(shape)
            return
        if op == "matmul":
            array = scalar = 2 * size(shape) * args[0].shape[-1]
        elif op in _QUADRATIC:  # raw is (axis,): lines of args[0].shape[axis] elements
            line = size(args[0].shape) if raw[0] is None else args[0].shape[raw[0]]
            per = 2 ** min(line, 60) if op == "sort" else line  # SymPy's sorting network nests
            array, scalar = size(args[0].shape), size(args[0].shape) * per
        elif op in _REDUCING:  # one operation per element read
            array = scalar = sum(size(arg.shape) for arg in args)
        else:
            array = scalar = size(shape)
        self.array_ops += array
        self.scalar_ops += scalar

    def broadcast(self, node: ast.AST, op: str, *args: _Node) -> Shape:
        shapes = [arg.shape for arg in args]
        try:
            return broadcast_shapes(shapes)
        except ValueError:
            listed = ", ".join(shape_text(s) for s in shapes)
            raise self.expr.error(f"shapes {listed} do not broadcast in {_OP_TEXT.get(op, op)}",
                                  node) from None

    def binary(self, op: str, node: ast.AST, left: _Node, right: _Node) -> _Node:
        if left.literal is not None and right.literal is not None:
            return _Node((), literal=fold(self.expr, op, node, left.literal, right.literal))
        if op == "matmul":
            return self.apply(op, node, left, right, shape=self.matmul_shape(node, left, right))
        if op == "pow" and right.literal is not None and float(right.literal).is_integer() \
                and abs(right.literal) <= 2**31:
            # integral exponents stay Python ints: x**2 is Pow(x, 2), not Pow(x, 2.0)
            exponent = int(right.literal)
            if abs(exponent) > MAX_POWER:
                raise self.expr.error(
                    f"the power {exponent:,} of a non-constant base is over {MAX_POWER:,}, the "
                    "limit (SymPy writes (3*w)**n out as 3**n * w**n, an n-digit integer)", node)
            return self.apply("pow", node, left, shape=left.shape, raw=(exponent,))
        return self.apply(op, node, left, right)

    def matmul_shape(self, node: ast.AST, left: _Node, right: _Node) -> Shape:
        a, b = left.shape, right.shape
        if not a or not b:
            raise self.expr.error("'@' needs vectors or matrices, not scalars", node)
        rows = b[-2] if len(b) > 1 else b[0]
        if a[-1] != rows:
            raise self.expr.error(
                f"shapes {shape_text(a)} @ {shape_text(b)} do not match "
                f"({a[-1]} columns vs {rows} rows)", node)
        try:  # NumPy's matmul: a vector's axis removed again, stacks of matrices broadcast
            batch = broadcast_shapes([a[:-2], b[:-2]])
        except ValueError:
            raise self.expr.error(f"shapes {shape_text(a)} @ {shape_text(b)}: the stacks of "
                                  f"matrices {shape_text(a[:-2])} and {shape_text(b[:-2])} do "
                                  "not broadcast", node) from None
        return (*batch, *a[-2:-1], *(b[-1:] if len(b) > 1 else ()))

    def call(self, node: ast.Call, name: str, arg_nodes: list[ast.expr],
             keywords: list[ast.keyword]) -> _Node:
        if name in LITERAL_ARGUMENT:  # reshape(a, (2, 3))
            value = self.visit(arg_nodes[0])
            shape = reshaped(self.expr, arg_nodes[1], value.shape)
            return self.apply(LITERAL_ARGUMENT[name], node, value, shape=shape, raw=(shape,))
        if name in LAYOUT_FUNCTIONS:
            return (gather.call if name in gather.SIGNATURES else layout.call)(self, node, name)
        if name in reductions.SIGNATURES:  # var, std, cumsum, cumprod, sort (issue 19)
            return reductions.call(self, node, name)
        if name in LINALG_FUNCTIONS or with_ord(name, arg_nodes, keywords):  # issue 19
            return linalg.call(self, node, name)
        if name in REDUCTIONS and len(arg_nodes) == 1:  # keepdims=, a tuple of axes (issue 19)
            return reductions.reduction(self, node, name)
        args = [self.visit(arg) for arg in arg_nodes]
        name = ALIASES.get(name, name)  # NumPy's name for one of the language's functions
        if name == "pow":  # power(a, b) is a ** b, exactly
            return self.binary("pow", node, *args)
        if name in ELEMENTWISE:
            return self.apply(name, node, *args)
        if len(args) == 1 and name in AXIS_FUNCTIONS:
            return self.along(node, name, args[0], keywords[0].value if keywords else None)
        op = MULTI[(name, len(args))]
        if op == "dot":  # NumPy's dot: of matrices too (issue 19)
            return gather.dot(self, node, *args)
        return self.apply(op, node, *args)

    def along(self, node: ast.Call, name: str, arg: _Node, axis: ast.expr | None) -> _Node:
        """A reduction (over every element, or along ``axis``) or softmax (along ``axis``,
        the last by default), the axis normalised to a non-negative int."""
        if name in REDUCTIONS:
            if axis is None or (isinstance(axis, ast.Constant) and axis.value is None):
                return self.apply(REDUCTIONS[name], node, arg, shape=(), raw=(None,))
            k = axis_of(self.expr, name, arg.shape, axis)
            return self.apply(REDUCTIONS[name], node, arg, shape=arg.shape[:k] + arg.shape[k + 1:],
                              raw=(k,))
        if not arg.shape:
            raise self.expr.error(f"{name}() takes a vector or matrix, not a scalar", node)
        k = len(arg.shape) - 1 if axis is None else axis_of(self.expr, name, arg.shape, axis)
        return self.apply(ALONG_AXIS[name], node, arg, shape=arg.shape, raw=(k,))
