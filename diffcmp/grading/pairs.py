"""Pairs of kinked components checked together.

At a kink (:mod:`diffcmp.grading.kinks`) the touched components are checked together, pair by
pair, as the black-box path does (:mod:`diffcmp.run.blackbox`): along ``e_k + e_m`` and
``e_k - e_m`` a valid gradient's ``g_k +- g_m`` lies between the loss's one-sided directional
derivatives (:attr:`~diffcmp.grading.kinks.Sides.pairs`), so a gradient that takes one side of a
tie for one component and the other side for another (an SVM mask with ``>`` beside a count with
``>=``) is a mismatch, named by the pair. That is sound only where the loss, in the plane of the
pair, is two smooth pieces meeting along one curve: then its generalized gradient is the segment
between the pieces' gradients, and along every direction of the plane its projection is exactly
the interval between the one-sided directional derivatives, whatever convention picks the point
of the segment (PyTorch's, JAX's, a ``>`` or ``>=`` mask). Where several switch elements meet
(two ReLUs at 0, one bending up and one down: ``relu(x) + min(y, 0)`` at the origin, whose
one-sided derivatives along ``e_x + e_y`` are both 1, while the valid subgradient ``(0, 0)``
gives 0) the interval holds only for convex (max-like) or concave (min-like) local structure,
which is not established here. So a pair is checked only when exactly one element on its switch
moves both components and no other element on a switch moves either (the touched components
sharing a switch); at most :data:`PAIR_LIMIT` components per element, :data:`MAX_PAIRS`
directions in all. (The black-box path, which has no graph to tell switches apart, pairs every
kinked component.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Touched components checked together pair by pair, at most this many per switch element (the
#: black-box path's limit on the kinked components it pairs up).
PAIR_LIMIT = 8
#: At most this many pair directions (``e_k + e_m``, ``e_k - e_m``) at one point.
MAX_PAIRS = PAIR_LIMIT * (PAIR_LIMIT - 1)
#: Why a gradient every one of whose components is valid fails along a pair.
INCONSISTENT = ("each component is within its one-sided derivatives, but not consistently (one "
                "side of a tie for one, the other side for another)")


def pairs(indices: list[int]) -> list[tuple[int, int, float]]:
    """Each pair of ``indices`` (in order) with both signs: the directions ``e_k + s e_m``."""
    return [(k, m, sign) for i, k in enumerate(indices) for m in indices[i + 1:]
            for sign in (1.0, -1.0)]


def pair_name(components: list[str], k: int, m: int, sign: float) -> str:
    """``"w[0] + b"``: the direction ``e_k + sign e_m`` by its components' names."""
    return f"{components[k]} {'+' if sign > 0 else '-'} {components[m]}"


@dataclass(frozen=True)
class Pair:
    """The loss's one-sided directional derivatives along ``e_first + sign e_second`` (from
    below, ``-f'(x; -v)``, and from above, ``f'(x; v)``) and their error bound."""

    first: int
    second: int
    sign: float
    left: float
    right: float
    spread: float

    def name(self, components: list[str]) -> str:
        """The direction by its components' names (:func:`pair_name`)."""
        return pair_name(components, self.first, self.second, self.sign)

    def value(self, grad: np.ndarray) -> float:
        """A gradient's value along the direction: ``g_first + sign g_second``."""
        return float(grad[self.first] + self.sign * grad[self.second])


def stacked(found: Sequence[Pair], grad: np.ndarray,
            floors: np.ndarray) -> tuple[np.ndarray, ...]:
    """The pairs as arrays: a gradient's values along them, their left and right one-sided
    derivatives and error bounds, and their floors (the larger of the two components')."""
    return (np.array([p.value(grad) for p in found]),
            *(np.array([getattr(p, side) for p in found]) for side in ("left", "right", "spread")),
            np.array([max(floors[p.first], floors[p.second]) for p in found]))
