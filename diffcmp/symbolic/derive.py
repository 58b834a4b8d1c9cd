"""The exact symbolic gradient: ``sympy.diff`` per parameter (the textbook derivation, whose
expression swell the report shows) or symbolic reverse mode, then one ``cse`` shared by every
consumer (:class:`Gradient`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from .cse import split_long
from .graph import backpropagate, local_gradients, topological, tree_ops

#: Above this many (parameters x loss operations), or this many loss operations, ``derive`` uses
#: symbolic reverse mode: one pass for all components instead of one ``sympy.diff`` per
#: parameter (29 s on a 200 x 20 least-squares loss, 2 s in reverse mode; 44 s for a 3,000-term
#: sum in two parameters).
REVERSE_ABOVE = 50_000
REVERSE_ABOVE_OPS = 2_000


@dataclass(frozen=True)
class Gradient:
    """The exact symbolic gradient of a loss, with one ``cse`` shared by every consumer."""

    loss: sp.Expr
    symbols: tuple[sp.Symbol, ...]
    components: tuple[sp.Expr, ...]
    #: ``cse([loss, *components])``: shared by ``reference`` and ``sympy``.
    cse: tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]
    derive_s: float
    cse_s: float
    #: How the components were derived: "diff" (sympy.diff per symbol) or "reverse".
    method: str = "diff"

    def steps(self) -> dict[str, float]:
        """Seconds spent deriving and in the shared ``cse``."""
        return {"derive": self.derive_s, "cse": self.cse_s}

    def sizes(self) -> dict[str, int]:
        """Expression sizes (:func:`tree_ops`): loss, gradient, and gradient after ``cse``."""
        replacements, reduced = self.cse
        return {
            "loss_ops": tree_ops([self.loss]),
            "grad_ops": tree_ops(self.components),
            "grad_cse_ops": tree_ops([e for _, e in replacements] + reduced[1:]),
        }


def derive(loss: sp.Expr, symbols: Sequence[sp.Symbol], method: str = "auto") -> Gradient:
    """Differentiate ``loss`` in each symbol (timed from a cleared SymPy cache), then ``cse``.

    ``method`` is ``"diff"`` (``sympy.diff`` per symbol, the textbook forward derivation, whose
    expression swell the sizes show), ``"reverse"`` (:func:`reverse_gradient`) or ``"auto"``
    (reverse above ``REVERSE_ABOVE`` parameters x operations or ``REVERSE_ABOVE_OPS``
    operations).
    """
    sp.core.cache.clear_cache()
    start = time.perf_counter()
    if method == "auto":
        ops = tree_ops([loss])
        large = ops > REVERSE_ABOVE_OPS or len(symbols) * ops > REVERSE_ABOVE
        method = "reverse" if large else "diff"
    real = _as_real(loss)
    if method == "reverse":
        components = reverse_gradient(real, symbols)
    else:
        components = tuple(sp.diff(real, s) for s in symbols)
    if real is not loss:
        components = tuple(_from_real(c) for c in components)
    derived = time.perf_counter()
    replacements, reduced = sp.cse([loss, *components], order="none")
    cse = split_long(replacements, reduced)
    done = time.perf_counter()
    return Gradient(loss, tuple(symbols), components, cse, derived - start, done - derived,
                    method)


class _RealAbs(sp.Function):
    """``Abs`` of an argument known to be real, with derivative ``sign``.

    The language is real-valued, but SymPy cannot prove ``acos(a)`` real (``a`` might exceed
    1), so its own ``Abs`` differentiates through ``re`` and ``im`` and its ``sign`` not at all
    (an unevaluated ``Derivative`` no printer can compile). ``derive`` differentiates these
    stand-ins and puts SymPy's functions back.
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.sign(self.args[0])


class _RealSign(sp.Function):
    """``sign`` of an argument known to be real: derivative ``2 DiracDelta``."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return 2 * sp.DiracDelta(self.args[0])


def _as_real(expr: sp.Expr) -> sp.Expr:
    if not expr.has(sp.Abs, sp.sign):
        return expr
    return expr.replace(sp.Abs, _RealAbs).replace(sp.sign, _RealSign)


def _from_real(expr: sp.Expr) -> sp.Expr:
    return expr.replace(_RealAbs, sp.Abs).replace(_RealSign, sp.sign)


def reverse_gradient(loss: sp.Expr, symbols: Sequence[sp.Symbol]) -> tuple[sp.Expr, ...]:
    """The gradient by symbolic reverse mode: the backward pass of the tutorial, in SymPy.

    Every distinct subexpression is a node of the computational graph. Walking the nodes from
    the loss back to the inputs, each node's adjoint (d loss / d node) is the sum, over its
    parents, of the parent's adjoint times the local gradient d parent / d node (the chain
    rule: :func:`~diffcmp.symbolic.graph.backpropagate`). Local gradients come from SymPy's own
    rules (``fdiff``), so the result is exact, and all components cost one pass instead of one
    ``sympy.diff`` each.
    """
    adjoints = backpropagate(topological(loss), loss, local_gradients, sp.Integer(1),
                             lambda parts: sp.Add(*parts))
    return tuple(adjoints.get(s, sp.Integer(0)) for s in symbols)
