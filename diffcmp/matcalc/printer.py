"""Array graphs as formulas in the language's own notation: ``2 * (X.T @ (X @ w - y))``.

Operators get Python's precedence, so brackets appear only where needed; broadcasting is implicit,
as in NumPy. A node used more than once across the printed formulas is printed once, as a named
step (``t1 = X @ w - y``), the way a person would write the shared work down; a node with a label
(a leaf, or an intermediate the case names) prints as its name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..ops.spec import SPEC, STRUCTURE
from .graph import Node, topological

#: Binary operators: op -> (symbol, precedence); higher binds tighter.
BINARY = {"add": (" + ", 4), "sub": (" - ", 4), "mul": (" * ", 5), "div": (" / ", 5),
          "matmul": (" @ ", 5), "mod": (" % ", 5), "lt": (" < ", 3), "le": (" <= ", 3),
          "gt": (" > ", 3), "ge": (" >= ", 3), "eq": (" == ", 3), "ne": (" != ", 3)}
#: The language's name for an op, where it differs from the op's.
CALLS = {"maximum": "max", "minimum": "min", "amax": "max", "amin": "min", "diagonal": "diag"}
#: How the structural functions of issue 19 print their literal arguments, NumPy's way.
LAYOUT_TEXT = {
    "roll": lambda a, shift, axis: f"roll({a}, {shift}" + ("" if axis is None else
                                                           f", axis={axis}") + ")",
    "repeat": lambda a, k, axis: f"repeat({a}, {k}" + ("" if axis is None else
                                                       f", axis={axis}") + ")",
    "tile": lambda a, reps: f"tile({a}, {_shape(reps)})",
    "triu": lambda a, k: f"triu({a}" + (f", k={k})" if k else ")"),
    "tril": lambda a, k: f"tril({a}" + (f", k={k})" if k else ")"),
    # arrays of any number of dimensions (issue 19)
    "permute_dims": lambda a, axes: f"transpose({a}, {_shape(axes)})",
    # integer indexing (issue 19)
    "diag": lambda a, k: f"diag({a}" + (f", k={k})" if k else ")"),
    "diagonal": lambda a, k: f"diag({a}" + (f", k={k})" if k else ")"),
    "take": lambda a, index, axis: f"take({a}, {_indices(index)}, axis={axis})",
    "take_along_axis": lambda a, index, axis: (
        f"take_along_axis({a}, {_indices(index)}, axis={axis})"),
    "scatter_add": lambda g, shape, index, axis: (
        f"scatter_add({g}, {_shape(shape)}, {_indices(index)}, axis={axis})"),
    # linear algebra (issue 19)
    "matrix_power": lambda a, k: f"matrix_power({a}, {k})",
}


def _indices(index: Any) -> str:
    """An index of integer data: the data's name where it has one, else its values (the first
    few)."""
    name = getattr(index, "name", "")
    if name:
        return name
    values = np.ravel(index).tolist()
    return "[" + ", ".join(map(str, values[:6])) + (", ...]" if len(values) > 6 else "]")


ATOM = 9

#: Ops whose extra argument is a literal written positionally (``reshape(a, (2, 3))``), not an
#: ``axis=``.
LITERAL_OPS = frozenset(op.name for op in SPEC.values() if op.kind == STRUCTURE and op.call)

#: Formulas longer than this are cut (``...``) in messages and reports.
MAX_CHARS = 400


def _literal(value: Any) -> tuple[str, int]:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}", 5
    if isinstance(value, float):
        text = repr(value)
        return text, (6 if text.startswith("-") else ATOM)
    if isinstance(value, int) and value < 0:
        return str(value), 6
    return str(value), ATOM


def _shape(shape: Any) -> str:
    """A shape as the language writes it: ``(4, 1)``, or ``6`` for one size; a
    :class:`~diffcmp.lang.shapes.Written` one as the case wrote it (``(-1, 1)``)."""
    shape = getattr(shape, "written", shape)
    sizes = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    return str(sizes[0]) if len(sizes) == 1 else "(" + ", ".join(map(str, sizes)) + ")"


def _key(key: Any) -> str:
    parts = key if isinstance(key, tuple) else (key,)

    def one(part: Any) -> str:
        if isinstance(part, slice):
            text = ("" if part.start is None else str(part.start)) + ":" + (
                "" if part.stop is None else str(part.stop))
            return text + (f":{part.step}" if part.step is not None else "")
        return "None" if part is None else str(part)

    return ", ".join(one(p) for p in parts)


#: Reductions, which print ``keepdims=True`` where a reshape puts their axis back (issue 19).
REDUCED = frozenset({"sum", "mean", "prod", "norm", "logsumexp", "amax", "amin"})


def _keeps(node: Node) -> bool:
    """Whether a reshape puts back, with size 1, the axes its reduction removed."""
    inner = node.args[0]
    if inner.op not in REDUCED or not inner.args:
        return False
    axis = inner.raw[0] if inner.raw else None
    kept = tuple(1 if axis in (None, i) else n for i, n in enumerate(inner.args[0].shape))
    return tuple(node.shape) == kept


class _Printer:
    def __init__(self, names: Mapping[int, str]) -> None:
        self.names = names

    def text(self, node: Node, top: bool = False) -> tuple[str, int]:
        """The node's text and the precedence of its outermost operator."""
        name = self.names.get(id(node))
        if name is not None and not top:
            return name, ATOM
        if node.label and node.op == "var":
            return node.label, ATOM
        op, args = node.op, node.args
        if op == "const":
            return _literal(node.raw[0])
        if op == "seed":
            return "1", ATOM
        if op in BINARY:
            symbol, level = BINARY[op]
            left = self.wrap(args[0], level)
            right = self.wrap(args[1], level if self._associates(node) else level + 1)
            return left + symbol + right, level
        if op == "neg":
            return "-" + self.wrap(args[0], 6), 6
        if op == "pow":
            exponent = (_literal(node.raw[0])[0] if node.raw else self.wrap(args[1], 8))
            return f"{self.wrap(args[0], 8)}**{exponent}", 7
        if op == "transpose":
            return self.wrap(args[0], ATOM) + ".T", 8
        if op == "index":
            return f"{self.wrap(args[0], ATOM)}[{_key(node.raw[0])}]", 8
        if op == "stack":
            return "[" + ", ".join(self.text(a)[0] for a in args) + "]", ATOM
        if op in LAYOUT_TEXT:
            return LAYOUT_TEXT[op](self.text(args[0])[0], *node.raw), 8
        if op == "einsum":  # (issue 19)
            parts = ", ".join(self.text(a)[0] for a in args)
            return f"einsum({node.raw[0]!r}, {parts})", 8
        if op == "concatenate":
            parts = ", ".join(self.text(a)[0] for a in args)
            return f"concatenate([{parts}], axis={node.raw[0]})", 8
        if op == "broadcast_to":
            return self.text(args[0])
        if op == "sum_to":
            inner = self.text(args[0])[0]
            return (f"sum({inner})" if node.shape == () else
                    f"sum_to({inner}, {node.shape})"), 8
        if op == "scatter":
            shape, key = node.raw
            return f"scatter({self.text(args[0])[0]}, {shape}, [{_key(key)}])", 8
        if op == "reshape" and _keeps(node) and id(args[0]) not in self.names:
            return self.text(args[0])[0][:-1] + ", keepdims=True)", 8  # (issue 19)
        inner = ", ".join(self.text(a)[0] for a in args)
        if op in LITERAL_OPS:  # reshape(a, (4, 1)): a literal argument, as the language takes it
            inner += "".join(f", {_shape(r)}" for r in node.raw)
        elif node.raw and op not in ("pow",):
            inner += "".join(f", axis={r}" for r in node.raw if r is not None)
        return f"{CALLS.get(op, op)}({inner})", 8

    @staticmethod
    def _associates(node: Node) -> bool:
        """Whether ``a op (b op2 c)`` may drop its brackets: ``a + (b + c)``, ``a * (b * c)``,
        and a scalar times a matrix product (``2 * X.T @ r`` is ``2 * (X.T @ r)``)."""
        op, right = node.op, node.args[1]
        if op in ("add", "mul") and right.op == op:
            return True
        return op == "mul" and right.op == "matmul" and node.args[0].shape == ()

    def wrap(self, node: Node, level: int) -> str:
        text, own = self.text(node)
        return f"({text})" if own < level else text


def _shared(roots: Sequence[Node]) -> list[Node]:
    """Nodes worth naming: used more than once across ``roots``, and not a leaf or literal."""
    uses: Counter[int] = Counter()
    order = topological(list(roots))
    for node in order:
        for arg in node.args:
            uses[id(arg)] += 1
    cheap = ("var", "const", "seed", "transpose", "broadcast_to")
    return [n for n in order if uses[id(n)] > 1 and n.op not in cheap and not n.label
            and n not in roots]


def formulas(outputs: Mapping[str, Node], limit: int = MAX_CHARS) -> list[str]:
    """``name = formula`` lines for ``outputs`` (in order), shared work first as ``t1 = ...``."""
    shared = _shared(list(outputs.values()))
    names = {id(n): f"t{k}" for k, n in enumerate(shared, start=1)}
    printer = _Printer(names)
    lines = [f"{names[id(n)]} = {printer.text(n, top=True)[0]}" for n in shared]
    lines += [f"{name} = {printer.text(node, top=True)[0]}" for name, node in outputs.items()]
    return [line if len(line) <= limit else line[:limit - 3] + "..." for line in lines]


def formula(node: Node, names: Mapping[int, str] | None = None) -> str:
    """One node as a formula, shared work inline; nodes in ``names`` (by id) print as their
    name (a named intermediate of ``diffcmp explain``)."""
    return _Printer(names or {}).text(node, top=True)[0]
