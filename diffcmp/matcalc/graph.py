"""The loss as an array graph: one node per operation of the loss as written (``X @ w`` is one
node, ``tanh`` of a matrix is one node), with its shape.

Nodes are built by an op table like every backend's (:data:`GRAPH_OPS`), so the language compiler
(:func:`diffcmp.lang.compile_expression`) and the SymPy translator
(:func:`diffcmp.symbolic.translate.compile_sympy`) build graphs with no code of their own. Nodes
are interned: building the same operation on the same arguments twice gives the same node, so
shared subexpressions are shared (common subexpression elimination for free), and Python's
operators build nodes too (``g * cos(a)``), so the vector-Jacobian rules of
:mod:`diffcmp.matcalc.rules` read like the mathematics.

Simplification at construction is algebra that holds for every value, infinities and NaN
included (``x * 1``, ``x + 0`` of a zero that is never ``-0.0``-sensitive, a transpose of a
transpose, constants folded exactly), so the graph of a loss keeps its domain as written: ``0 *
log(w)`` stays undefined at ``w = 0``. The one exception is marked: adjoints (nodes that depend on
the derivation's seed, :attr:`Node.linear`) are linear in the seed, and a ``where`` adjoint with a
literal zero branch absorbs the factors applied to it (``where(c, g, 0) * y -> where(c, g * y,
0)``), which is the double-``where`` fix done symbolically: the branch ``where`` does not select
never meets an infinite local derivative; a ``scatter`` adjoint (of indexing) does the same with
the elements it holds (``scatter(g, key) * y -> scatter(g * y[key], key)``).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, ClassVar

from ..lang.shapes import Shape, broadcast_shapes, matmul_shape

#: A literal: an exact integer or fraction, a float, or a named constant (``pi``, ``E``).
Literal = int | Fraction | float | str


def _key(value: Any) -> Any:
    """A hashable form of a raw argument (slices are unhashable before Python 3.12)."""
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, tuple | list):  # a shape as written too: (-1, 1) is not (4, 1)
        return (type(value).__name__, getattr(value, "written", None), *(_key(v) for v in value))
    if isinstance(value, float):
        return ("float", value, math.copysign(1.0, value))
    return value


class Node:
    """One operation of an array graph: ``op`` applied to ``args`` (nodes) and ``raw`` (literal
    arguments: an exponent, an index key, a shape), giving an array of ``shape``."""

    __slots__ = ("__weakref__", "args", "dtype", "label", "linear", "op", "raw", "shape")

    op: str
    args: tuple[Node, ...]
    raw: tuple[Any, ...]
    shape: Shape
    #: ``"real"``, or ``"bool"`` for a comparison.
    dtype: str
    #: Depends on the derivation's seed (an adjoint): linear in it.
    linear: bool
    #: The name a leaf or a named intermediate (``[nodes]``) goes by, else ``""``.
    label: str

    _interned: ClassVar[weakref.WeakValueDictionary[Any, Node]] = weakref.WeakValueDictionary()

    def __new__(cls, op: str, args: Sequence[Node], raw: Sequence[Any], shape: Shape,
                dtype: str = "real", label: str = "") -> Node:
        args, raw, shape = tuple(args), tuple(raw), tuple(int(n) for n in shape)
        key = (op, tuple(id(a) for a in args), _key(raw), shape, dtype, label)
        node = cls._interned.get(key)
        if node is not None and node.args == args:
            return node
        node = super().__new__(cls)
        node.op, node.args, node.raw, node.shape, node.dtype, node.label = (
            op, args, raw, shape, dtype, label)
        node.linear = op == "seed" or any(a.linear for a in args)
        cls._interned[key] = node
        return node

    @property
    def size(self) -> int:
        """The number of elements."""
        return math.prod(self.shape)

    @property
    def is_const(self) -> bool:
        """A literal scalar."""
        return self.op == "const"

    def const_value(self) -> Literal | None:
        """The literal, for a constant node; else ``None``."""
        return self.raw[0] if self.op == "const" else None

    def __repr__(self) -> str:
        name = self.label or self.op
        return f"<{name} {self.shape}>"

    # -- Python's operators build nodes (the rules read like mathematics) --
    def __add__(self, other: Any) -> Node:
        return add(self, lift(other))

    def __radd__(self, other: Any) -> Node:
        return add(lift(other), self)

    def __sub__(self, other: Any) -> Node:
        return sub(self, lift(other))

    def __rsub__(self, other: Any) -> Node:
        return sub(lift(other), self)

    def __mul__(self, other: Any) -> Node:
        return mul(self, lift(other))

    def __rmul__(self, other: Any) -> Node:
        return mul(lift(other), self)

    def __truediv__(self, other: Any) -> Node:
        return div(self, lift(other))

    def __rtruediv__(self, other: Any) -> Node:
        return div(lift(other), self)

    def __pow__(self, other: Any) -> Node:
        if isinstance(other, int) and not isinstance(other, bool):
            return power(self, other)
        return power(self, lift(other))

    def __neg__(self) -> Node:
        return neg(self)

    def __matmul__(self, other: Node) -> Node:
        return matmul(self, other)


def topological(roots: Sequence[Node]) -> list[Node]:
    """Every node reached from ``roots``, arguments before the nodes that use them (iterative)."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((arg, False) for arg in reversed(node.args) if id(arg) not in seen)
    return order


def const(value: Literal) -> Node:
    """A literal scalar (kept exact: ``1/3`` stays a fraction until a backend converts it)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, Fraction) and value.denominator == 1:
        value = int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return Node("const", (), (value,), ())


def lift(value: Any) -> Node:
    """``value`` as a node (a number becomes a constant)."""
    return value if isinstance(value, Node) else const(value)


def var(name: str, shape: Shape, role: str = "param") -> Node:
    """A leaf: a parameter (``role="param"``) or data."""
    return Node("var", (), (name, role), shape, label=name)


def seed() -> Node:
    """The derivation's seed: d loss / d loss, a scalar 1 that marks what depends on it."""
    return Node("seed", (), (), ())


def is_zero(node: Node) -> bool:
    """A literal zero."""
    return node.op == "const" and node.raw[0] == 0


def is_one(node: Node) -> bool:
    """A literal one."""
    return node.op == "const" and node.raw[0] == 1


def _exact(value: Literal) -> bool:
    return isinstance(value, int | Fraction)


def _fold(op: str, a: Literal, b: Literal | None = None) -> Literal | None:
    """Exact arithmetic on two exact literals (``None`` when not both exact or not exact)."""
    if not _exact(a) or (b is not None and not _exact(b)):
        return None
    a = Fraction(a)
    if op == "neg":
        return -a
    b = Fraction(b)
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b if b != 0 else None
    return None


def elementwise(op: str, *args: Node, dtype: str = "real") -> Node:
    shape = broadcast_shapes([a.shape for a in args])
    # broadcasting is implicit: an argument spread to a shape the result has anyway is not
    args = tuple(_spread_source(a, args, shape) for a in args)
    return Node(op, args, (), shape, dtype)


def _spread_source(arg: Node, args: Sequence[Node], shape: Shape) -> Node:
    """``arg``'s source when ``arg`` is a ``broadcast_to`` the other arguments make redundant."""
    if arg.op != "broadcast_to":
        return arg
    inner = arg.args[0]
    others = [a.shape for a in args if a is not arg]
    return inner if broadcast_shapes([inner.shape, *others]) == shape else arg


def _sink(where_node: Node, combine: Callable[[Node], Node]) -> Node | None:
    """``where(c, g, 0) * y`` as ``where(c, g * y, 0)`` for an adjoint (see the module
    docstring); ``None`` when ``where_node`` is not such an adjoint."""
    if not (where_node.op == "where" and where_node.linear):
        return None
    condition, a, b = where_node.args
    if is_zero(b):
        return where(condition, combine(a), b)
    if is_zero(a):
        return where(condition, a, combine(b))
    return None


def _sink_scatter(adjoint: Node, other: Node,
                  combine: Callable[[Node, Node], Node]) -> Node | None:
    """``scatter(g, key) * y`` as ``scatter(g * y[key], key)`` for an adjoint (the adjoint of
    indexing): the elements indexing did not select get an exact 0 whatever ``y`` holds there,
    as the ``where`` adjoint does (an element ``y`` is undefined at, which the loss never uses,
    is no part of its gradient); ``None`` when ``adjoint`` is not such an adjoint."""
    if not (adjoint.op == "scatter" and adjoint.linear) or other.shape not in (
            adjoint.shape, ()):
        return None
    inner = adjoint.args[0]
    shape, key = adjoint.raw
    part = other if other.shape == () else Node("index", (other,), (key,), inner.shape)
    return Node("scatter", (combine(inner, part),), (shape, key), shape)


def _signed(op: Callable[[Node, Node], Node], a: Node, b: Node) -> Node:
    """``op`` of ``a`` and ``b`` with their negations taken out: ``(-a) * b`` is ``-(a * b)``,
    ``(-a) * (-b)`` is ``a * b`` (exact in IEEE arithmetic, which negates exactly)."""
    flips = (a.op == "neg") + (b.op == "neg")
    inner = op(a.args[0] if a.op == "neg" else a, b.args[0] if b.op == "neg" else b)
    return neg(inner) if flips % 2 else inner


def add(a: Node, b: Node) -> Node:
    """``a + b`` (broadcast); ``a + -b`` is ``a - b``."""
    if a.is_const and b.is_const and (value := _fold("add", a.raw[0], b.raw[0])) is not None:
        return const(value)
    if b.op == "neg":
        return sub(a, b.args[0])
    if a.op == "neg":
        return sub(b, a.args[0])
    if is_zero(b) and a.shape == broadcast_shapes([a.shape, b.shape]):
        return a
    if is_zero(a) and b.shape == broadcast_shapes([a.shape, b.shape]):
        return b
    return elementwise("add", a, b)


def sub(a: Node, b: Node) -> Node:
    """``a - b`` (broadcast); ``a - -b`` is ``a + b``."""
    if a.is_const and b.is_const and (value := _fold("sub", a.raw[0], b.raw[0])) is not None:
        return const(value)
    if b.op == "neg":
        return add(a, b.args[0])
    return elementwise("sub", a, b)


def mul(a: Node, b: Node) -> Node:
    """``a * b`` (broadcast); a factor 1 of the right shape is dropped, constants fold, and an
    adjoint ``where`` with a zero branch absorbs the factor (see the module docstring)."""
    if a.is_const and b.is_const and (value := _fold("mul", a.raw[0], b.raw[0])) is not None:
        return const(value)
    shape = broadcast_shapes([a.shape, b.shape])
    if is_one(a) and b.shape == shape:
        return b
    if is_one(b) and a.shape == shape:
        return a
    if a.op == "neg" or b.op == "neg":  # signs out: (-a) * b is -(a * b), exactly
        return _signed(mul, a, b)
    if a.is_const and b.op == "mul" and b.args[0].is_const:  # c1 * (c2 * x) -> (c1 c2) * x
        folded = _fold("mul", a.raw[0], b.args[0].raw[0])
        if folded is not None:
            return mul(const(folded), b.args[1])
    if a.shape == shape and (sunk := _sink(a, lambda x: mul(x, b))) is not None:
        return sunk
    if b.shape == shape and (sunk := _sink(b, lambda x: mul(a, x))) is not None:
        return sunk
    if (sunk := _sink_scatter(a, b, mul) or _sink_scatter(b, a, lambda x, y: mul(y, x))):
        return sunk
    return elementwise("mul", a, b)


def div(a: Node, b: Node) -> Node:
    """``a / b`` (broadcast)."""
    if a.is_const and b.is_const and (value := _fold("div", a.raw[0], b.raw[0])) is not None:
        return const(value)
    shape = broadcast_shapes([a.shape, b.shape])
    if is_one(b) and a.shape == shape:
        return a
    if a.op == "neg" or b.op == "neg":
        return _signed(div, a, b)
    if a.shape == shape and (sunk := _sink(a, lambda x: div(x, b))) is not None:
        return sunk
    if (sunk := _sink_scatter(a, b, div)) is not None:
        return sunk
    return elementwise("div", a, b)


def neg(a: Node) -> Node:
    """``-a``."""
    if a.is_const and (value := _fold("neg", a.raw[0])) is not None:
        return const(value)
    if a.op == "neg":
        return a.args[0]
    if (sunk := _sink(a, neg)) is not None:
        return sunk
    return Node("neg", (a,), (), a.shape)


def power(a: Node, b: Node | int) -> Node:
    """``a ** b``: an integer exponent is raw (``pow(a, 2)``), like the language's."""
    if isinstance(b, int):
        if b == 1:
            return a
        return Node("pow", (a,), (b,), a.shape)
    if b.is_const and isinstance(b.raw[0], int) and abs(b.raw[0]) <= 2**31:
        return power(a, b.raw[0])
    return elementwise("pow", a, b)


def matmul(a: Node, b: Node) -> Node:
    """``a @ b`` with NumPy's rules for vectors, matrices and stacks of them."""
    shape = matmul_shape(a.shape, b.shape)
    for inner, rebuild in ((a, lambda x: matmul(x, b)), (b, lambda x: matmul(a, x))):
        # a scalar factor comes out: X.T @ (2 * r) is 2 * (X.T @ r), scaling the smaller array
        if inner.op == "mul" and inner.args[0].shape == () and inner.args[1].shape == inner.shape:
            return mul(inner.args[0], rebuild(inner.args[1]))
        if inner.op == "neg":
            return neg(rebuild(inner.args[0]))
    return Node("matmul", (a, b), (), shape)


def transpose(a: Node) -> Node:
    """The transpose of an array, its axes reversed (a scalar or vector: itself)."""
    if len(a.shape) < 2:
        return a
    if a.op == "transpose":
        return a.args[0]
    return Node("transpose", (a,), (), a.shape[::-1])


def where(condition: Node, a: Node, b: Node) -> Node:
    """``a`` where ``condition`` holds, else ``b`` (broadcast)."""
    return Node("where", (condition, a, b), (),
                broadcast_shapes([condition.shape, a.shape, b.shape]))
