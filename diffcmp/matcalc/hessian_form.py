"""The Hessian as a matrix formula, read off its Hessian-vector product.

The product ``H v`` derived at array level (:func:`~diffcmp.matcalc.derive.hvp`) is linear in
the tangent ``v``. Where it is built from ``v`` by matrix products, elementwise scaling, sums and
negation only, the matrix it applies to ``v`` is written out, factor by factor, the way matrix
calculus prints it (Laue, Mitterreiter and Giesen, NeurIPS 2018): ``X.T @ (X @ v)`` is
``X.T @ X``, and ``X.T @ (X @ v * s)`` is ``X.T @ diag(s) @ X``. A product of any other form
(an index, a reshape, a reduction of ``v``) has no such formula here (``None``), and the
product's own formula stands for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .graph import Node
from .printer import formula

#: A linear map as a sum of terms, each a sign, its scalar coefficients and its matrix factors
#: left to right (``"I"`` is the identity; ``diag(...)`` an elementwise scaling).
Terms = list[tuple[int, list[str], list[str]]]


def _depends(node: Node, leaf: Node) -> bool:
    return node is leaf or any(_depends(a, leaf) for a in node.args)


def _scale(terms: Terms, factor: str, scalar: bool) -> Terms:
    """A scalar coefficient, or ``diag(factor)`` applied on the left of every term (merged into
    a scaling already there)."""
    out: Terms = []
    for sign, coefficients, factors in terms:
        if scalar:
            out.append((sign, [factor, *coefficients], factors))
            continue
        first = factors[0]
        if first.startswith("diag("):
            out.append((sign, coefficients, [f"diag({factor} * {first[5:-1]})", *factors[1:]]))
        else:
            out.append((sign, coefficients, [f"diag({factor})",
                                              *[f for f in factors if f != "I"]]))
    return out


def _linear(node: Node, leaf: Node) -> Terms | None:
    """The map ``node = M @ leaf`` as terms, or ``None`` when ``node`` is not of that form."""
    if node is leaf:
        return [(1, [], ["I"])]
    op, args = node.op, node.args
    if op == "neg":
        inner = _linear(args[0], leaf)
        return None if inner is None else [(-s, c, f) for s, c, f in inner]
    if op in ("add", "sub"):
        left, right = _linear(args[0], leaf), _linear(args[1], leaf)
        if left is None or right is None:
            return None
        return left + ([(-s, c, f) for s, c, f in right] if op == "sub" else right)
    if op == "matmul" and not _depends(args[0], leaf) and len(args[1].shape) == 1:
        inner = _linear(args[1], leaf)
        if inner is None:
            return None
        return [(s, c, [formula(args[0]), *[f for f in factors if f != "I"]])
                for s, c, factors in inner]
    if op in ("mul", "div"):
        moving = [a for a in args if _depends(a, leaf)]
        if len(moving) != 1 or (op == "div" and moving[0] is not args[0]):
            return None
        other = args[1] if moving[0] is args[0] else args[0]
        inner = _linear(moving[0], leaf)
        if inner is None or other.shape not in ((), moving[0].shape):
            return None
        text = formula(other) if op == "mul" else f"1 / ({formula(other)})"
        if other.shape == () and not other.is_const and op == "mul" and \
                other.op not in ("var", "const"):
            text = f"({text})"
        return _scale(inner, text, other.shape == ())
    return None


def hessian_formula(products: Sequence[Node], tangents: Sequence[Node]) -> str | None:
    """The Hessian of a loss of one vector parameter as a matrix formula (``X.T @ diag(s) @
    X``), from its Hessian-vector product; ``None`` for several parameters or a product not
    built from matrix products, scalings and sums of the tangent."""
    if len(products) != 1 or len(tangents[0].shape) != 1:
        return None
    terms = _linear(products[0], tangents[0])
    if not terms:
        return None
    text = ""
    for sign, coefficients, factors in terms:
        matrix = " @ ".join(factors)
        written = " * ".join([*coefficients, matrix]) if matrix != "I" or not coefficients \
            else " * ".join(coefficients) + " * I"
        text += (f"-{written}" if sign < 0 else written) if not text else \
            (f" - {written}" if sign < 0 else f" + {written}")
    return text


__all__ = ["hessian_formula"]
