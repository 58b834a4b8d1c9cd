"""Comparison: every engine's loss and gradient graded against the reference.

The error of a value ``a`` against the reference's ``b`` is ``|a - b| / max(floor, |a| + |b|)``:
relative for values above the floor, absolute (in units of the floor) below it. ADBench and
GradBench use the fixed floor 1 (``rho_adbench``, kept in every row for comparability), which
grades nothing below 1: for ``1e-11 * sin(w)`` any answer between -5e-11 and 5e-11 passes. diffcmp's
floor is derived from the case instead (:class:`Floors`): for each value, how far float64 rounding
of the computation can move it (see :mod:`diffcmp.grading.floors`), never above ADBench's 1. A
tiny gradient that is 100% off is then a ``mismatch``, while a component whose true value is lost
in float64 cancellation is not. The worst component is the ``error``;
``rel_error = max|g - r| / max|r|`` is given beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..status import Status
from . import kinks
from .exact import Exact
from .pairs import INCONSISTENT, Pair, stacked

#: Tolerance on the error for ``[expect]`` values checked against the reference.
EXPECT_TOLERANCE = 1e-9
#: ADBench's and GradBench's floor: the most diffcmp's floor can be.
ADBENCH_FLOOR = 1.0
#: What the graded values are called in messages (a second-order phase names its own).
_VALUES = "gradient components"


def rho(a: np.ndarray | float, b: np.ndarray | float,
        floor: np.ndarray | float = ADBENCH_FLOOR) -> np.ndarray:
    """``|a - b| / max(floor, |a| + |b|)`` elementwise (``floor`` 1: ADBench, GradBench)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))
    return np.where(a == b, 0.0, error)  # equal values are no error, even below a zero floor


@dataclass(frozen=True)
class Floors:
    """The floor of the loss and of each gradient component at one point (see the module
    docstring); ADBench's 1 where none was derived."""

    loss: float = ADBENCH_FLOOR
    grad: np.ndarray | None = None
    #: Where the floors come from, for the report.
    source: str = "ADBench's fixed 1"
    #: The most a floor can be: ADBench's 1, higher for an engine below float64 (issue 21:
    #: :data:`~diffcmp.grading.floors.DTYPE_CAP`).
    cap: float = ADBENCH_FLOOR

    def for_grad(self, n: int) -> np.ndarray:
        """The gradient floors as an array of ``n`` (ADBench's 1 where none was derived)."""
        if self.grad is None:
            return np.full(n, ADBENCH_FLOOR)
        return np.minimum(np.asarray(self.grad, dtype=float), self.cap)

    def for_loss(self) -> float:
        """The loss floor (at most :attr:`cap`, ADBench's 1)."""
        return min(float(self.loss), self.cap)


@dataclass(frozen=True)
class Outcome:
    """What one engine produced at one point: values, or why there are none."""

    loss: float = float("nan")
    grad: np.ndarray | None = None
    status: Status | None = None  # set when the engine did not produce values: error, unsupported..
    message: str = ""
    #: The significant digits every reference value is proven to by its ball; None elsewhere.
    digits: int | None = None
    #: The working precision the reference settled its values at (decimal digits), which the
    #: independent derivation doubles; None elsewhere.
    precision: int | None = None
    #: The reference's values that exist but are beyond float64's range, as text (``exp(710)``).
    overflow: str = ""
    #: The reference's certified values as decimal text, with their bounds (the loss first, then
    #: every gradient component); None elsewhere. A value with a bound is graded as 0 within it.
    exact: Exact | None = None

    def bounds(self) -> np.ndarray:
        """The loss's and every gradient component's bound as float64 (rounded down), ``nan``
        where the value is proven (or there is no certificate)."""
        n = 1 + (len(self.grad) if self.grad is not None else 0)
        if self.exact is None or len(self.exact.bounds) != n:
            return np.full(n, np.nan)
        return self.exact.bound_floats()

    def shown(self, k: int, value: float) -> str:
        """Value ``k`` (0 the loss, then the gradient components) in a message: its float64
        ``value``, with the certified text where float64 cannot hold it or it is a bound."""
        if self.exact is None or k >= len(self.exact.values) or not self.exact.flag(k):
            return _number(value)
        return f"{_number(value)} ({self.exact.describe(k)})"


@dataclass(frozen=True)
class Verdict:
    """One engine's grade at one point."""

    status: Status
    error: float
    rel_error: float
    message: str
    #: The same worst error under ADBench's and GradBench's fixed floor 1, for comparability.
    rho_adbench: float = float("nan")
    #: The floor of the value that decided (the worst one): below it the error is absolute.
    floor: float = float("nan")


def _number(x: float) -> str:
    return f"{x:.12g}"


def grade(engine: str, outcome: Outcome, reference: Outcome, components: list[str],
          tolerance: float, floors: Floors = Floors(), values: str = _VALUES) -> Verdict:
    """Grade ``outcome`` against ``reference``: the loss first, then every gradient component
    (``values`` names them in messages), each with its floor from ``floors``. A reference
    value known only as a bound ``|v| <= b`` (:attr:`Outcome.exact`) is graded as 0 within
    ``b``: an engine's value ``a`` with ``|a| <= b`` is exact, any other gets the usual error
    against 0."""
    nan = float("nan")
    if outcome.status is not None:
        return Verdict(outcome.status, nan, nan, outcome.message)
    if reference.status == Status.ERROR:  # the reference failed: no engine is at fault
        return Verdict(Status.UNRESOLVED, nan, nan, f"no verdict, the reference failed: "
                       f"{reference.message}")
    if reference.status is not None:
        return Verdict(reference.status, nan, nan, f"reference {reference.status}: "
                       f"{reference.message}")
    if reference.overflow:  # the truth exists but float64 cannot hold it: no engine is right
        return _beyond_float64(engine, outcome, reference, components)
    if not np.isfinite(outcome.loss):
        too = _nonfinite_count(outcome.grad, values)
        return Verdict(Status.NAN, nan, nan, f"loss: {engine} {outcome.loss} vs reference "
                       f"{reference.shown(0, reference.loss)}"
                       + (f"; the {values.split()[0]} too ({too})" if too else ""))
    # a bound b: the value is graded as 0, and an engine's value within b is exact
    bounds = reference.bounds()
    loss_floor = floors.for_loss()
    loss_within = bool(abs(outcome.loss) <= bounds[0])
    loss_error = 0.0 if loss_within else float(rho(outcome.loss, reference.loss, loss_floor))
    if loss_error > tolerance:
        return Verdict(Status.MISMATCH, loss_error, nan,
                       f"loss: {engine} {_number(outcome.loss)} vs reference "
                       f"{reference.shown(0, reference.loss)}: the loss itself differs (a "
                       "translation bug, or float64 cancellation or overflow)",
                       float(rho(outcome.loss, reference.loss)), loss_floor)
    grad, ref = outcome.grad, reference.grad
    bad = np.flatnonzero(~np.isfinite(grad))
    if bad.size:
        i = int(bad[0])
        first = f"{components[i]}: {engine} {grad[i]} vs reference " \
                f"{reference.shown(i + 1, ref[i])}"
        return Verdict(Status.NAN, nan, nan, first if bad.size == 1 else
                       f"{_nonfinite_count(grad, values)}; the first: {first}")
    grad_floors = floors.for_grad(len(ref))
    within = np.abs(grad) <= bounds[1:]  # nan (no bound): False
    errors = np.where(within, 0.0, rho(grad, ref, grad_floors))
    if not errors.size:
        return Verdict(Status.OK, 0.0, 0.0, "", 0.0, loss_floor)
    worst = int(np.argmax(errors))
    error = float(errors[worst])
    scale = float(np.max(np.abs(ref)))
    diff = float(np.max(np.where(within, 0.0, np.abs(grad - ref))))
    rel_error = diff / scale if scale > 0 else diff
    status = Status.MISMATCH if error > tolerance else Status.OK
    message = "" if status == Status.OK else _mismatch_message(
        engine, grad, reference, components, errors, tolerance, values)
    return Verdict(status, error, rel_error, message,
                   float(np.max(np.where(within, 0.0, rho(grad, ref)))),
                   float(grad_floors[worst]))


#: Wrong gradient components a mismatch message shows with both values, worst first.
SHOWN_COMPONENTS = 3


def _nonfinite_count(grad: np.ndarray | None, values: str = _VALUES) -> str:
    """``"2 of 3 gradient components are not finite"``; ``""`` when all are (or none given)."""
    if grad is None:
        return ""
    bad = int(np.count_nonzero(~np.isfinite(grad)))
    return f"{bad} of {len(grad)} {values} are not finite" if bad else ""


def _mismatch_message(engine: str, grad: np.ndarray, reference: Outcome,
                      components: list[str], errors: np.ndarray, tolerance: float,
                      values: str = _VALUES) -> str:
    """A gradient mismatch: one wrong component as ``w[2]: torch 0.1 vs reference 0.9``;
    several counted, the worst :data:`SHOWN_COMPONENTS` with both values and their errors."""
    wrong = np.flatnonzero(errors > tolerance)
    order = wrong[np.argsort(-errors[wrong], kind="stable")]

    def pair(k: int) -> str:
        return (f"{components[k]}: {engine} {_number(grad[k])} vs reference "
                f"{reference.shown(k + 1, reference.grad[k])}")

    if len(order) == 1:
        return pair(int(order[0]))
    shown = "; ".join(f"{pair(int(k))} (error {errors[k]:.3g})"
                      for k in order[:SHOWN_COMPONENTS])
    rest = len(order) - SHOWN_COMPONENTS
    return (f"{len(order)} of {len(grad)} {values} are off (error > tolerance "
            f"{tolerance:.3g}), the worst: {shown}" + (f"; and {rest} more" if rest > 0 else ""))


def _beyond_float64(engine: str, outcome: Outcome, reference: Outcome,
                    components: list[str]) -> Verdict:
    """Where a true value is beyond float64's range a float64 engine overflows (``nan``: not
    finite where the truth is) or returns a finite value, which is wrong (``mismatch``)."""
    nan = float("nan")
    for name, value, true in zip(["loss", *components], [outcome.loss, *(
            outcome.grad if outcome.grad is not None else [])], [reference.loss, *(
            reference.grad if reference.grad is not None else [])], strict=False):
        if np.isfinite(true) or value == true:
            continue
        status = Status.MISMATCH if np.isfinite(value) else Status.NAN
        return Verdict(status, nan, nan, f"{name}: {engine} {_number(value)}, but "
                       f"{reference.overflow} (it exists, so float64 overflows here)")
    return Verdict(Status.NAN, nan, nan, f"{engine}: {reference.overflow}; its float64 values "
                   "overflow")


def kink_verdict(engine: str, outcome: Outcome, kink: str, components: list[str],
                 left: np.ndarray, right: np.ndarray, *, reference: Outcome | None = None,
                 tolerance: float = 0.0, floors: Floors = Floors(),
                 spread: np.ndarray | None = None, pairs: Sequence[Pair] = ()) -> Verdict:
    """Grade ``outcome`` at a kink, component by component, then pair by pair.

    A component is *touched* by the kink when its one-sided partial derivatives ``left`` and
    ``right`` differ (:func:`~diffcmp.grading.kinks.touched`). The loss and the untouched
    components are differentiable there and graded exactly as :func:`grade` grades them (floors,
    ``tolerance``, the loss first), against ``reference`` (or, where the reference has no
    gradient, against their one-sided derivatives, which agree). A touched component passes
    when it lies between its one-sided derivatives, ``[min(left, right), max(left, right)]``,
    each end widened by ``spread`` (their error bound) and then by ``tolerance`` above the
    component's floor; outside it is a ``mismatch`` naming the component, the value and the
    interval. The row is ``mismatch`` when any graded or touched component fails, else
    ``kink``: no verdict on the touched components beyond their interval.

    Why the interval: for a convex kink (``abs``, ``relu``, ``max``, a hinge, a norm) the
    projection of the subdifferential on one coordinate is exactly that interval (its ends are
    the one-sided derivatives ``-f'(x; -e_j)`` and ``f'(x; e_j)``), so every valid subgradient
    (PyTorch's and JAX's conventions, a ``>`` or ``>=`` mask) passes and a value outside it is
    no subgradient. For a kink that is not convex (``min``, ``-abs``, a ``where`` boundary) it
    is the natural generalisation: at a max or min of smooth pieces it is the projection of the
    Clarke generalized gradient (the convex hull of the active pieces' gradients), and an
    autodiff convention that returns one active piece's gradient lies in it. The check is per
    component, so it is necessary, not sufficient: a gradient that mixes the sides
    inconsistently across components (one sample's tie counted in one component and not in
    another) lies in every interval. So ``pairs`` (:mod:`~diffcmp.grading.pairs`) are graded
    next the same way, ``g_k +- g_m`` against the one-sided derivatives along ``e_k +- e_m``,
    else a ``mismatch`` naming the pair. And a component is judged along its own axis: where
    the partial derivative exists but the loss is still not differentiable (a ridge such as
    ``max(min(x, y), min(-x, -y))`` at 0), it is graded as untouched.

    A component whose interval is not known (a side undefined, or both sides infinite: a jump)
    gets no verdict. A non-finite gradient is ``nan``, since a subgradient exists there (the
    classic: JAX's NaN for ``norm`` at 0). The reference's own row, an engine without values, or
    a call without ``reference`` get ``kink`` as before: the engine's value beside the one-sided
    derivatives of the first touched component.
    """
    nan = float("nan")
    left, right = np.asarray(left, dtype=float), np.asarray(right, dtype=float)
    touched = kinks.touched(left, right)
    differ = np.flatnonzero(touched)
    i = int(differ[0]) if differ.size else 0
    sides = f"one-sided {_number(left[i])} (left) / {_number(right[i])} (right)"
    grad = outcome.grad
    if engine != "reference" and grad is not None and not np.all(np.isfinite(grad)):
        bad = int(np.flatnonzero(~np.isfinite(grad))[0])
        return Verdict(Status.NAN, nan, nan,
                       f"{components[bad]}: {engine} {grad[bad]} at a kink ({kink}), where "
                       f"a subgradient exists: {components[i]} {sides}")
    value = _number(grad[i]) if grad is not None else "undefined"
    no_verdict = Verdict(Status.KINK, nan, nan, f"kink: {kink}; {components[i]}: {engine} "
                         f"{value}, {sides}")
    if engine == "reference" or grad is None or outcome.status is not None or reference is None:
        return no_verdict
    grad_floors = floors.for_grad(len(grad))
    spread = np.zeros(len(grad)) if spread is None else np.nan_to_num(
        np.asarray(spread, dtype=float), nan=0.0)
    usable = reference.status is None and reference.grad is not None and not reference.overflow
    # graded as at a smooth point: against the reference, or against the agreeing sides
    by_interval = touched if usable else np.ones(len(grad), dtype=bool)
    off = _outside(engine, kink, components, grad, left, right, spread, grad_floors, tolerance,
                   by_interval)
    smooth = _grade_untouched(engine, outcome, reference, components, tolerance, floors,
                              touched) if usable else None
    if smooth is not None and smooth.status not in (Status.OK, Status.MISMATCH):
        return smooth  # the loss is not finite
    if off is None and (smooth is None or smooth.status == Status.OK):
        if not pairs:
            return no_verdict
        # each component within its interval: the touched ones sharing a switch, pair by pair
        pair = _outside(engine, kink, [p.name(components) for p in pairs],
                        *stacked(pairs, grad, grad_floors), tolerance, along=True)
        return no_verdict if pair is None else Verdict(
            Status.MISMATCH, pair[1], nan, f"{pair[0]}: {INCONSISTENT}", pair[3], pair[2])
    parts = [smooth.message] if smooth is not None and smooth.status == Status.MISMATCH else []
    error = smooth.error if parts else 0.0
    rel_error = smooth.rel_error if parts else nan
    adbench = smooth.rho_adbench if parts else 0.0
    floor = smooth.floor if parts else nan
    if off is not None:
        parts.append(off[0])
        if off[1] > error:
            error, floor = off[1], off[2]
        adbench = max(adbench, off[3])
    elif differ.size:  # only smooth components are off: say which ones the kink touches
        names = ", ".join(components[k] for k in differ[:3]) + (", ..." if differ.size > 3
                                                                 else "")
        parts[0] += f" (graded beside a kink: {kink}, which touches {names})"
    return Verdict(Status.MISMATCH, error, rel_error, "; ".join(parts), adbench, floor)


def _outside(engine: str, kink: str, names: list[str], values: np.ndarray, left: np.ndarray,
             right: np.ndarray, spread: np.ndarray, floors: np.ndarray, tolerance: float,
             graded: np.ndarray | None = None,
             along: bool = False) -> tuple[str, float, float, float] | None:
    """The worst of ``values`` (those ``graded``) outside the interval between its one-sided
    derivatives (:func:`_interval_errors`): ``(message, error, floor, ADBench's error)``, the
    message naming it (``w[1]``, or a pair ``w[0] - b``, ``along`` it) with the others counted;
    ``None`` when every one lies within."""
    spread = np.nan_to_num(spread, nan=0.0)
    errors = _interval_errors(values, left, right, spread, floors)
    off = errors > tolerance if graded is None else graded & (errors > tolerance)
    if not off.any():
        return None
    worst = int(np.argmax(np.where(off, errors, -1.0)))
    lo, hi = sorted((float(left[worst]), float(right[worst])))
    where = (f"[{_number(lo)}, {_number(hi)}], between its one-sided derivatives"
             if kinks.touched(lo, hi) else f"{_number(lo)}, its derivative from both sides")
    more = int(off.sum()) - 1
    return (f"{names[worst]}: {engine} {_number(values[worst])} is outside {where}"
            + (" along it" if along else "") + f" at the kink ({kink})"
            + (f" (and {more} more)" if more else ""), float(errors[worst]),
            float(floors[worst]), float(np.max(np.where(off, _interval_errors(
                values, left, right, spread, np.ones(len(values))), 0.0))))


def _grade_untouched(engine: str, outcome: Outcome, reference: Outcome, components: list[str],
                     tolerance: float, floors: Floors, touched: np.ndarray) -> Verdict:
    """:func:`grade` on the loss and the components the kink does not touch: the touched ones
    are given the reference's value (0 where it has none), so they count as no error."""
    ref = np.asarray(reference.grad, dtype=float)
    masked_ref = np.where(touched & ~np.isfinite(ref), 0.0, ref)
    masked = np.where(touched, masked_ref, outcome.grad)
    return grade(engine, replace(outcome, grad=masked), replace(reference, grad=masked_ref),
                 components, tolerance, floors)


def _interval_errors(grad: np.ndarray, left: np.ndarray, right: np.ndarray, spread: np.ndarray,
                     floors: np.ndarray) -> np.ndarray:
    """Each component's error against the interval between its one-sided derivatives, each end
    widened by ``spread``: 0 inside, else :func:`rho` against the nearer end. 0 (no verdict)
    where the interval is not known: a side undefined, or both infinite (a jump)."""
    lo = np.minimum(left, right) - spread
    hi = np.maximum(left, right) + spread
    known = ~np.isnan(lo) & ~np.isnan(hi) & (np.isfinite(lo) | np.isfinite(hi))
    with np.errstate(invalid="ignore"):
        nearest = np.where(grad < lo, lo, np.where(grad > hi, hi, grad))
    errors = rho(grad, nearest, floors)
    return np.where(known & np.isfinite(errors), errors, 0.0)


def check_expect(expected: float, actual: float, tolerance: float,
                 floor: float = ADBENCH_FLOOR) -> bool:
    """Whether an ``[expect]`` value holds against the reference value (with its floor)."""
    return bool(np.isfinite(actual) and rho(expected, actual, floor) <= tolerance)
