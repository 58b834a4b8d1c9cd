"""The switches of the linear algebra of issue 19, for :mod:`diffcmp.grading.kinks`: where
``eigvalsh`` and ``svdvals`` are not differentiable.

A symmetric matrix's eigenvalues, sorted, are not differentiable where two of them are equal
(the sorted order swaps two smooth branches: a kink, like ``max`` at a tie); singular values are
not where two are equal, nor where one is 0 (``svdvals`` of a 1 x 1 matrix is ``abs``). Each
switch is the gap between neighbours (the smallest singular value), on the switch within
float64 rounding of the matrix's magnitude (its Frobenius norm): every float64 eigensolver
carries an error of that order (see :mod:`diffcmp.matcalc.linalg_bounds`).

``logdet`` and ``cholesky`` have no kink: outside their domain (``det(A) <= 0``, a matrix that
is not positive definite) they are undefined, which the reference proves (``nan`` balls,
:mod:`diffcmp.ops.linalg_balls`) and the grading reports as ``undefined``.
"""

from __future__ import annotations

from ..matcalc import graph as g
from ..matcalc.graph import Node
from ..matcalc.printer import formula
from ..matcalc.table import index, reduction
from ..symbolic.graph import short

#: Ops with spectral switches.
SPECTRAL = frozenset({"eigvalsh", "svdvals"})


def spectral(node: Node) -> list[tuple[tuple[Node, Node], str]]:
    """``(quantity, scale), label`` of each switch of an ``eigvalsh`` or ``svdvals`` node."""
    text = short(formula(node))
    n = node.shape[0]
    scale = reduction("norm", node.args[0])
    found = []
    if n > 1:
        gaps = g.sub(index(node, slice(1, n, 1)), index(node, slice(0, n - 1, 1)))
        what = "eigenvalue" if node.op == "eigvalsh" else "singular value"
        found.append(((gaps, scale), f"{text} has a repeated {what}"))
    if node.op == "svdvals":
        found.append(((index(node, n - 1), scale), f"{text} has a zero singular value"))
    return found
