"""Grading a black-box gradient where finite differences alone are the reference: kinks found
from one-sided differences, and a fast mode of random directional derivatives for large
parameter vectors (:mod:`diffcmp.run.selfcheck` builds the rows).

**Kinks.** Along a direction ``v`` the right derivative ``f'(x; v)`` and the left one
``-f'(x; -v)`` come from the same calls as the central difference
(:func:`~diffcmp.engines.fd_estimate.line`). Where they differ beyond their error estimates the
function has a kink at ``x`` along ``v``, and a gradient ``g`` is a valid subgradient there
only if ``g . v`` lies between them (for a kink of a max, such as ``relu`` or a hinge, the two
one-sided derivatives are the largest and smallest ``g . v`` over the subdifferential; for a
min, the other way round). Per component (``v = e_k``) this is the interval test; the touched
components are then checked together, pair by pair (``e_k + e_l`` and ``e_k - e_l``, up to
:data:`~diffcmp.grading.pairs.PAIR_LIMIT` of them, the limit the symbolic path's pairs share;
random sign vectors over them beyond), so that a gradient that takes one side of a tie for one
component and the other side for another (an SVM mask with ``>`` beside a count with ``>=``; a
max-pool that routes the gradient to both tied inputs) is a mismatch, named by the pair.

**Fast mode.** Above :data:`FAST_SIZE` parameter elements, :data:`FAST_DIRECTIONS` random
directions (seeded) are checked first, as ``torch.autograd.gradcheck``'s ``fast_mode`` and
JAX's ``check_grads`` do: ``2 * STEPS`` calls each, against ``2 n`` for a full check. When one
disagrees, the wrong components are localised by bisection: each half of a failing set is
checked along a random direction supported on it, down to single components, which are graded
along their axis (with their kinks). Each wrong component costs about ``2 log2(n)`` directions;
beyond :data:`MAX_GROUPS` failing sets at one level the remaining components are checked one
by one.

A directional check passes when ``|g . v - d| <= max(SAFETY * err, tolerance * (|g . v| + |d|))
+ ROUNDING`` (the floor rule of :mod:`diffcmp.run.selfcheck`, ``ROUNDING`` being the float64
rounding of the dot product, ``n * EPS * sum|g_k v_k|``), ``d`` the derivative along ``v`` and
``err`` its error estimate; at a kink, when ``g . v`` lies within that distance of the interval
between the one-sided derivatives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engines.fd_estimate import EPS, Line, line
from ..grading.grade import Floors, Outcome, Verdict, grade, rho
from ..grading.pairs import INCONSISTENT, PAIR_LIMIT, pair_name, pairs
from ..status import Status

#: Above this many parameter elements ``check()`` without a loss runs in fast mode.
FAST_SIZE = 64
#: Random directions the fast mode checks before it localises anything.
FAST_DIRECTIONS = 4
#: Bisection: more failing sets than this at one level, and every component left is checked.
MAX_GROUPS = 16
#: How many times its own error estimate a finite-difference reference may be off before a
#: difference counts (the per-component grading of :mod:`~diffcmp.run.selfcheck` uses it too).
SAFETY = 4.0

Function = Callable[[np.ndarray], Any]


@dataclass(frozen=True)
class Probe:
    """One directional check: the user's ``g . v``, the line along ``v``, and whether it holds."""

    value: float
    line: Line
    holds: bool
    #: How far outside what is allowed (0 when it holds), as a rho-like relative error.
    error: float

    @property
    def low(self) -> float:
        """The smaller one-sided derivative at a kink, else the central one."""
        return min(self.line.left, self.line.right) if self.line.kink else self.line.central

    @property
    def high(self) -> float:
        """The larger one-sided derivative at a kink, else the central one."""
        return max(self.line.left, self.line.right) if self.line.kink else self.line.central


def probe(f: Function, x: np.ndarray, f0: float, g: np.ndarray, v: np.ndarray,
          tolerance: float) -> Probe:
    """Check the gradient ``g`` along ``v`` (see the module docstring)."""
    ln = line(f, x, v, f0)
    value = float(g @ v)
    rounding = v.size * EPS * float(np.sum(np.abs(g * v)))
    if ln.kink:
        low, high = sorted((ln.left, ln.right))
        err = max(ln.left_error, ln.right_error)
        nearest = min(max(value, low), high)
    else:
        err, nearest = ln.central_error, ln.central
    if not np.isfinite(nearest):
        return Probe(value, ln, True, 0.0)  # no step resolved it: nothing to hold against
    allowed = max(SAFETY * err, tolerance * (abs(value) + abs(nearest))) + rounding
    off = abs(value - nearest)
    error = 0.0 if off <= allowed else float(off / max(abs(value) + abs(nearest), allowed / max(
        tolerance, EPS)))
    return Probe(value, ln, off <= allowed, error)


def _number(x: float) -> str:
    return f"{x:.12g}"


def kink_grade(row: str, outcome: Outcome, reference: Outcome, lines: list[Line],
               components: list[str], tolerance: float, floors: Floors, f: Function,
               x: np.ndarray, f0: float, seed: int = 0) -> Verdict:
    """The user's row at a point where some components have kinks (``lines[k].kink``): the
    others graded as usual, each kinked one against its one-sided derivatives, and the kinked
    ones together (see the module docstring). ``kink`` when every value is valid, else
    ``mismatch`` naming the worst component (or pair)."""
    g = np.asarray(outcome.grad, dtype=float)
    kinked = [k for k, ln in enumerate(lines) if ln.kink]
    others = np.array(reference.grad, dtype=float)
    others[kinked] = g[kinked]  # graded below, against both sides
    smooth = grade(row, outcome, Outcome(loss=reference.loss, grad=others), components,
                   tolerance, floors)
    if smooth.status != Status.OK:
        return smooth
    eye = np.eye(g.size)
    wrong: list[tuple[float, str]] = []
    for k in kinked:
        found = probe(f, x, f0, g, eye[k], tolerance)
        if not found.holds:
            wrong.append((found.error, f"{components[k]}: {row} {_number(g[k])}, outside the "
                          f"one-sided derivatives {_number(lines[k].left)} (left) / "
                          f"{_number(lines[k].right)} (right) at a kink"))
    if not wrong and len(kinked) > 1:
        wrong = _together(row, f, x, f0, g, kinked, components, tolerance, seed)
    names = [components[k] for k in kinked]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    if wrong:
        wrong.sort(key=lambda item: -item[0])
        more = f" ({len(wrong)} wrong at the kink)" if len(wrong) > 1 else ""
        return Verdict(Status.MISMATCH, wrong[0][0], smooth.rel_error, wrong[0][1] + more,
                       smooth.rho_adbench, smooth.floor)
    k = kinked[0]
    return Verdict(Status.KINK, smooth.error, smooth.rel_error,
                   f"kink at {shown}: one-sided derivatives differ ({components[k]}: "
                   f"{_number(lines[k].left)} left / {_number(lines[k].right)} right, {row} "
                   f"{_number(g[k])} between them); {len(components) - len(kinked)} other "
                   "component(s) graded as usual, ok", smooth.rho_adbench, smooth.floor)


def _together(row: str, f: Function, x: np.ndarray, f0: float, g: np.ndarray,
              kinked: list[int], components: list[str], tolerance: float,
              seed: int) -> list[tuple[float, str]]:
    """The kinked components checked together: pairs, or random sign vectors over them."""
    directions: list[tuple[np.ndarray, str]] = []
    if len(kinked) <= PAIR_LIMIT:
        for k, m, sign in pairs(kinked):
            v = np.zeros(g.size)
            v[k], v[m] = 1.0, sign
            directions.append((v, pair_name(components, k, m, sign)))
    else:
        rng = np.random.default_rng(seed)
        for _ in range(2 * PAIR_LIMIT):
            v = np.zeros(g.size)
            v[kinked] = rng.choice([-1.0, 1.0], size=len(kinked))
            directions.append((v, "a random combination of the kinked components"))
    wrong = []
    for v, what in directions:
        found = probe(f, x, f0, g, v, tolerance)
        if not found.holds:
            wrong.append((found.error, f"along {what}: {row} {_number(found.value)} vs "
                          f"reference {_number(found.low)}" + (
                              f" to {_number(found.high)}" if found.high != found.low else "")
                          + f": {INCONSISTENT}"))
            break  # one is enough to fail; the pair names the components
    return wrong


@dataclass(frozen=True)
class Fast:
    """What the fast mode found: the verdict, the reference per component (NaN where it was not
    computed), how many directions it checked, and the sentence for the report."""

    verdict: Verdict
    reference: np.ndarray
    directions: int
    max_error: float
    note: str


def fast_check(row: str, outcome: Outcome, f: Function, x: np.ndarray, f0: float,
               components: list[str], tolerance: float, seed: int = 0) -> Fast:
    """Check ``outcome.grad`` along :data:`FAST_DIRECTIONS` random directions; localise the
    wrong components only when one disagrees (see the module docstring)."""
    nan = float("nan")
    g = np.asarray(outcome.grad, dtype=float)
    n = g.size
    rng = np.random.default_rng(seed)
    reference = np.full(n, np.nan)
    loss_verdict = grade(row, outcome, Outcome(loss=f0, grad=g), components, tolerance,
                         Floors(loss=min(1.0, 16 * EPS * abs(f0) / max(tolerance, EPS))))
    count = 0
    failed = False
    worst = 0.0
    kinks = 0
    for _ in range(FAST_DIRECTIONS):
        v = rng.standard_normal(n)
        v /= np.max(np.abs(v))
        found = probe(f, x, f0, g, v, tolerance)
        count += 1
        kinks += found.line.kink
        worst = max(worst, found.line.central_error)
        failed |= not found.holds
    base = (f"no symbolic loss was given, and the function has {n} parameter elements (more "
            f"than {FAST_SIZE}): fast mode, {FAST_DIRECTIONS} random directional derivatives "
            "(Richardson-extrapolated central and one-sided differences along each) checked "
            "against your gradient's dot products")
    if loss_verdict.status != Status.OK:
        return Fast(loss_verdict, reference, count, worst, base)
    if not failed:
        if kinks:
            verdict = Verdict(Status.KINK, 0.0, 0.0, f"kink: the one-sided derivatives differ "
                              f"along {kinks} of {count} random directions, and {row}'s "
                              "gradient lies between them along each")
        else:
            verdict = Verdict(Status.OK, 0.0, 0.0, "")
        return Fast(verdict, reference, count, worst, base + "; all agree")
    wrong, used = _localise(f, x, f0, g, tolerance, rng)
    count += used
    eye = np.eye(n)
    rows = []
    for k in wrong:
        found = probe(f, x, f0, g, eye[k], tolerance)
        count += 1
        if found.holds:
            continue
        reference[k] = found.low if found.line.kink else found.line.central
        rows.append((found.error, k, found))
    note = base + f"; one disagreed, and bisection localised the wrong components ({count} " \
        "directions in all)"
    if not rows:
        return Fast(Verdict(Status.MISMATCH, nan, nan, f"{row}'s gradient disagrees with the "
                            "function along a random direction, but no single component could "
                            "be blamed (several wrong components cancelling along each axis "
                            "test, or a kink)"), reference, count, worst, note)
    rows.sort(key=lambda item: -item[0])
    error, k, found = rows[0]
    shown = _number(found.low) + (f" to {_number(found.high)} (one-sided, a kink)"
                                  if found.line.kink else "")
    more = ""
    if len(rows) > 1:
        names = [components[j] for _, j, _ in rows[1:]]
        more = f" (and {len(rows) - 1} more: {', '.join(names[:4])}" + (
            ", ..." if len(names) > 4 else "") + ")"
    values = np.array([rho(g[j], reference[j]) for _, j, _ in rows])
    verdict = Verdict(Status.MISMATCH, error, float(np.max(np.abs(
        g[[j for _, j, _ in rows]] - reference[[j for _, j, _ in rows]])) / max(
        float(np.max(np.abs(g))), EPS)),
        f"{components[k]}: {row} {_number(g[k])} vs reference {shown}{more}",
        float(np.max(values)), nan)
    return Fast(verdict, reference, count, worst, note)


def _localise(f: Function, x: np.ndarray, f0: float, g: np.ndarray, tolerance: float,
              rng: np.random.Generator) -> tuple[list[int], int]:
    """The components whose sets keep failing down to one element (bisection with random
    directions on each half), and how many directions that took."""
    groups = [np.arange(g.size)]
    wrong: list[int] = []
    used = 0
    while groups:
        if len(groups) > MAX_GROUPS:  # many wrong components: each one on its own
            wrong.extend(int(k) for group in groups for k in group)
            break
        following = []
        for group in groups:
            halves = [group] if group.size == 1 else np.array_split(group, 2)
            failing = []
            for half in halves:
                if half.size == 1:
                    wrong.append(int(half[0]))
                    continue
                v = np.zeros(g.size)
                v[half] = rng.standard_normal(half.size)
                v /= np.max(np.abs(v))
                used += 1
                if not probe(f, x, f0, g, v, tolerance).holds:
                    failing.append(half)
            following.extend(failing)
        groups = following
    return sorted(set(wrong)), used


__all__ = ["FAST_DIRECTIONS", "FAST_SIZE", "MAX_GROUPS", "PAIR_LIMIT", "Fast", "Probe",
           "fast_check", "kink_grade", "probe"]
