"""Grading a user's gradient when no symbolic loss is given: against the best finite-difference
estimate of the user's function itself.

The reference is the complex step where the function accepts complex input and its
complex-step derivative agrees with Richardson-extrapolated central differences within their
error estimate (a function with ``abs``, ``max`` or a comparison may accept complex input and
still not be analytic); otherwise it is the Richardson estimate
(:mod:`diffcmp.engines.fd_estimate`). Either way each component ``k`` has an error estimate
``err_k`` (the complex step: how far its value moves a few units in the last place away, at
least ``EPS * max|g|``; Richardson: its extrapolation error plus the rounding of the function
values, and at least ``EPS * max|g|`` too).

**The floor rule.** The error of the user's value ``a`` against the reference ``b`` is diffcmp's
``|a - b| / max(floor, |a| + |b|)`` (:mod:`diffcmp.grading.grade`), with ``E_k = SAFETY * err_k``
and

* ``floor_k = min(1, max(E_k / tolerance, TINY))``, so that ``|a - b| <= E_k`` never exceeds
  the tolerance where the floor decides;
* the row's tolerance is raised, when the floor is capped at 1, to
  ``max_k E_k / max(floor_k, 2|b_k| - E_k)``, so that no difference within ``E_k`` is a mismatch
  at any magnitude. The row's ``tolerance`` column shows the tolerance used; the report says
  when it was raised.

A difference within the reference's own (safety-scaled) error is therefore never a mismatch, and
anything beyond it is graded as usual: a gradient 10 times too large at size 1e-11 is a
mismatch (its error is about 0.8), because the estimate's error there is around 1e-22.

**Kinks** (:mod:`diffcmp.run.blackbox`): where a component's one-sided difference estimates
differ beyond their error estimates, the function has a kink there along that component, and
the central estimate (their average) is no derivative. Such a component is ``kink`` (no failure)
when the user's value lies between the one-sided derivatives, and ``mismatch`` outside them;
the other components are graded as above. **Large parameter vectors** (more than
:data:`~diffcmp.run.blackbox.FAST_SIZE` elements) are checked by a few random directional
derivatives first, and the wrong components are localised only when one disagrees.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engines.base import Prepared
from ..engines.fd_estimate import (
    EPS,
    Line,
    complex_step,
    complex_usable,
    line,
    rounding_spread,
)
from ..engines.nonfinite import first_nonfinite
from ..engines.user_code import Layout, UserCodeEngine
from ..errors import DiffcmpError, UnsupportedError
from ..grading.grade import Floors, Outcome, Verdict, grade
from ..status import Status
from . import blackbox
from .rows import CaseResult
from .timing import Measurement, measure

#: How many times its own error estimate the reference may be off before a difference counts.
SAFETY = blackbox.SAFETY
#: The smallest floor (an exact zero against an exact zero is no error).
TINY = float(np.finfo(np.float64).tiny)
#: Where no complex step is possible: how the reference was made, for the report.
RICHARDSON = "Richardson-extrapolated central differences"
COMPLEX_STEP = "complex step"

RULE = (f"error = |a - b| / max(floor, |a| + |b|) with floor = min(1, {SAFETY:g} * err / "
        f"tolerance) per component, err being the finite-difference reference's own error "
        "estimate; where the floor is capped at 1, the tolerance is raised so that no "
        f"difference within {SAFETY:g} * err is a mismatch")


@dataclass(frozen=True)
class Reference:
    """The finite-difference reference: its outcome, per-component error estimate, method and
    the sentence that says what it is; the lines it was made from (central and one-sided, per
    component), where it was made per component."""

    outcome: Outcome
    error: np.ndarray
    method: str
    note: str
    lines: list[Line] | None = None


def fd_reference(engine: UserCodeEngine, layout: Layout,
                 lines: list[Line] | None = None) -> Reference:
    """The best finite-difference gradient of the user's function at ``layout.point``, from
    ``lines`` (one :class:`~diffcmp.engines.fd_estimate.Line` per component; made here when not
    given). Components whose one-sided estimates differ (kinks) keep their central estimate, the
    average of the two sides: the caller grades them against the sides.

    Raises :class:`DiffcmpError` when the function gives two different losses at the same point
    (randomness inside it: no difference quotient means anything then).
    """
    f = engine.value_at(layout)
    x = layout.point
    first = _determinate(f, x)
    if not np.isfinite(first):
        where = first_nonfinite(engine.call, engine.framework, layout.split(x), layout.data)
        outcome = Outcome(loss=first, status=Status.UNDEFINED,
                          message=f"the function's loss is {first} at this point"
                          + (f"; {where}" if where else ""))
        return Reference(outcome, np.full(x.size, np.inf), "", outcome.message)
    if lines is None:
        lines = axis_lines(f, x, first)
    kinked = np.array([ln.kink for ln in lines], dtype=bool)
    value = np.array([ln.central for ln in lines])
    error = np.array([ln.central_error for ln in lines])
    method = RICHARDSON
    why = complex_usable(f, x, first)
    if not why:
        step = complex_step(f, x)
        close = np.abs(step - value) <= SAFETY * error
        off = np.flatnonzero(~close & np.isfinite(value) & ~kinked)
        if off.size:
            k = int(off[0])
            why = (f"its complex-step derivative disagrees with central differences at "
                   f"{layout.components[k]} ({step[k]:.12g} vs {value[k]:.12g} +- "
                   f"{error[k]:.2g}): a non-analytic operation (abs, max, a comparison) "
                   "accepts complex input")
        else:
            method = COMPLEX_STEP
            spread = rounding_spread(f, x, step)
            value = np.where(kinked, value, step)
            error = np.where(kinked, error, spread)
    scale = float(np.max(np.abs(value))) if np.all(np.isfinite(value)) else 0.0
    error = np.maximum(error, EPS * scale)
    if method == COMPLEX_STEP:
        note = ("no symbolic loss was given: the reference is the complex-step derivative of "
                "the function itself, Im f(x + ih) / h, checked against Richardson-extrapolated "
                "central differences")
    else:
        note = (f"no symbolic loss was given: the reference is {RICHARDSON} of the function "
                f"itself (complex step not used: {why})")
    bad = np.flatnonzero(~np.isfinite(value))
    if bad.size:
        message = (f"{note}; finite differences could not resolve "
                   f"{layout.components[int(bad[0])]} (the function is not finite at every step)")
        return Reference(Outcome(loss=first, status=Status.UNRESOLVED, message=message), error,
                         method, message)
    note += f"; estimated error at most {float(np.max(error)):.2g} per component"
    if kinked.any():
        names = [layout.components[int(k)] for k in np.flatnonzero(kinked)]
        note += (f"; the one-sided differences disagree at {_few(names)}: a kink, where the "
                 "gradient is graded against both sides")
    return Reference(Outcome(loss=first, grad=value), error, method, note, lines)


def axis_lines(f: Callable[[np.ndarray], Any], x: np.ndarray, f0: float) -> list[Line]:
    """Central and one-sided estimates along every component (``2 * STEPS`` calls each)."""
    eye = np.eye(x.size)
    return [line(f, x, eye[k], f0) for k in range(x.size)]


def _determinate(f: Callable[[np.ndarray], Any], x: np.ndarray) -> float:
    """``f(x)``, checked to be the same twice (no randomness inside)."""
    first, second = float(f(x).real), float(f(x).real)
    if not (first == second or (np.isnan(first) and np.isnan(second))):
        raise DiffcmpError(f"the function gave two different losses at the same point ({first!r} "
                           f"and {second!r}): randomness inside it (dropout, sampling) makes "
                           "finite differences meaningless; fix its seed or use eval mode")
    return first


def _few(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def floors_for(reference: Reference, tolerance: float) -> tuple[Floors, float]:
    """The floors and the tolerance the user's row is graded with (see the module docstring)."""
    bound = SAFETY * reference.error
    floors = np.minimum(1.0, np.maximum(bound / tolerance, TINY)) if tolerance > 0 else \
        np.ones_like(bound)
    grad = reference.outcome.grad
    used = tolerance
    if grad is not None and grad.size:
        margin = np.maximum(floors, 2 * np.abs(grad) - bound)
        with np.errstate(divide="ignore", invalid="ignore"):
            needed = np.where(bound > 0, bound / margin, 0.0)
        used = max(tolerance, float(np.max(needed)))
    loss = abs(reference.outcome.loss)
    loss_floor = min(1.0, max(SAFETY * 4 * EPS * loss / tolerance if tolerance > 0 else 1.0,
                              TINY))
    return Floors(loss=loss_floor, grad=floors,
                  source=f"the finite-difference reference's error estimate ({RULE})"), used


def self_check(name: str, row: str, engine: UserCodeEngine, layout: Layout, tolerance: float,
               timing: bool = False, min_time: float = 0.2, allow_undefined: bool = False,
               fast: bool | None = None, seed: int = 0) -> tuple[CaseResult, dict[str, Any]]:
    """Grade the user's gradient against finite differences of the function itself: the case's
    rows (``reference`` and ``row``) and what the report says about the reference
    (``meta["fd_reference"]``).

    Per component (kinks graded against both sides) up to :data:`blackbox.FAST_SIZE` param
    elements, by random directional derivatives above it (``fast`` forces one or the other).
    The function raising is an ``error`` row; a loss of NaN a ``nan`` row (``undefined`` with
    ``allow_undefined``), an infinite loss an ``undefined`` point, as with a symbolic loss.
    """
    result = CaseResult(name, source="")
    components = layout.components
    prepared: Prepared | None = None
    try:
        prepared = engine.prepare_at(layout)
        loss, grad = prepared.value_and_grad(layout.point)
        outcome = Outcome(loss=loss, grad=grad)
        reference = None
        f = engine.value_at(layout)
        f0 = _determinate(f, layout.point)
    except DiffcmpError as exc:
        if "two different losses" in str(exc):
            raise
        outcome, prepared, reference = _failed(exc), None, None
    except Exception as exc:  # the user's code failing is a result, not a crash
        outcome, prepared, reference = _failed(exc), None, None
    n = layout.point.size
    fast = n > blackbox.FAST_SIZE if fast is None else fast
    meta: dict[str, Any] = {"kind": "finite differences of the function", "rule": RULE,
                            "safety": SAFETY, "tolerance": tolerance, "tolerance_used": tolerance,
                            "mode": "fast" if fast else "per component"}
    if outcome.status is not None:  # the function raised: nothing to difference
        note = "no reference: your function raised at this point (see its row)"
        result.add_agreement(0, "reference", Verdict(Status.UNRESOLVED, 0.0, 0.0, note),
                             float("nan"), 0.0, None)
        result.add_agreement(0, row, Verdict(outcome.status, float("nan"), float("nan"),
                                             outcome.message), outcome.loss, tolerance, None)
        meta.update(method="", note=note, max_error=0.0)
        return result, meta
    if fast and np.isfinite(f0) and np.all(np.isfinite(outcome.grad)):
        return _fast(result, name, row, engine, layout, outcome, f, f0, tolerance, timing,
                     min_time, prepared, meta, seed)
    reference = fd_reference(engine, layout) if np.isfinite(f0) and \
        np.all(np.isfinite(outcome.grad)) else _bare_reference(engine, layout, f0)
    floors, used = floors_for(reference, tolerance)
    ref = reference.outcome
    result.add_agreement(0, "reference", Verdict(ref.status or Status.OK, 0.0, 0.0,
                                                 reference.note), ref.loss, 0.0, None)
    verdict = _nonfinite_verdict(row, outcome, engine, layout, allow_undefined)
    if verdict is None:
        if reference.lines is not None and ref.grad is not None and \
                any(ln.kink for ln in reference.lines):
            verdict = blackbox.kink_grade(row, outcome, ref, reference.lines, components, used,
                                          floors, f, layout.point, f0, seed)
            kinked = [k for k, ln in enumerate(reference.lines) if ln.kink]
            result.add_one_sided(0, [components[k] for k in kinked],
                                 np.array([reference.lines[k].left for k in kinked]),
                                 np.array([reference.lines[k].right for k in kinked]))
        else:
            verdict = grade(row, outcome, ref, components, used, floors)
    result.add_agreement(0, row, verdict, outcome.loss, used, None)
    nan = np.full(len(components), np.nan)
    ref_grad = ref.grad if ref.grad is not None else nan
    if ref.grad is not None:
        result.add_gradients(0, "reference", components, ref.grad, ref_grad)
    if outcome.grad is not None:
        result.add_gradients(0, row, components, outcome.grad, ref_grad)
    if timing and prepared is not None:
        _time(result, row, prepared, layout.point, min_time)
    meta.update(method=reference.method, note=reference.note, tolerance_used=used,
                max_error=float(np.max(reference.error)) if reference.error.size else 0.0)
    return result, meta


def _failed(exc: BaseException) -> Outcome:
    if isinstance(exc, UnsupportedError):  # forward mode through a hand-written gradient
        return Outcome(status=Status.UNSUPPORTED, message=str(exc))
    return Outcome(status=Status.ERROR, message=f"{type(exc).__name__}: {exc}")


def _bare_reference(engine: UserCodeEngine, layout: Layout, f0: float) -> Reference:
    """The reference where the user's own values are not finite: its loss (or why it is not
    finite), no finite differences (nothing to grade)."""
    if not np.isfinite(f0):
        return fd_reference(engine, layout)
    note = "no finite differences: your function's gradient is not finite (see its row)"
    return Reference(Outcome(loss=f0, status=Status.UNRESOLVED, message=note),
                     np.zeros(layout.point.size), "", note)


def _nonfinite_verdict(row: str, outcome: Outcome, engine: UserCodeEngine, layout: Layout,
                       allow_undefined: bool) -> Verdict | None:
    """The user's row when its first non-finite output is the loss (``nan`` for NaN unless
    ``allow_undefined``) or a gradient component (``nan``, naming it and how many there are);
    ``None`` when all are finite or the loss is infinite (the reference's ``undefined``, which
    :func:`grade` repeats)."""
    nan = float("nan")
    if np.isnan(outcome.loss) and not allow_undefined:
        where = first_nonfinite(engine.call, engine.framework, layout.split(layout.point),
                                layout.data)
        return Verdict(Status.NAN, nan, nan, f"loss: {row} nan, the first non-finite output"
                       + (f"; {where}" if where else ""))
    if not np.isfinite(outcome.loss):  # the reference's undefined point: graded as such
        return None
    bad = np.flatnonzero(~np.isfinite(outcome.grad))
    if bad.size:
        k = int(bad[0])
        more = f" ({bad.size} of {outcome.grad.size} components are not finite)" \
            if bad.size > 1 else ""
        return Verdict(Status.NAN, nan, nan, f"{layout.components[k]}: {row} {outcome.grad[k]}, "
                       f"the first non-finite output (the loss is {outcome.loss:.12g}){more}")
    return None


def _fast(result: CaseResult, name: str, row: str, engine: UserCodeEngine, layout: Layout,
          outcome: Outcome, f: Callable[[np.ndarray], Any], f0: float, tolerance: float,
          timing: bool, min_time: float, prepared: Prepared | None, meta: dict[str, Any],
          seed: int) -> tuple[CaseResult, dict[str, Any]]:
    """Random directional derivatives first; the wrong components localised only when one
    disagrees (:func:`blackbox.fast_check`)."""
    components = layout.components
    found = blackbox.fast_check(row, outcome, f, layout.point, f0, components, tolerance, seed)
    result.add_agreement(0, "reference", Verdict(Status.OK, 0.0, 0.0, found.note), f0, 0.0,
                         None)
    result.add_agreement(0, row, found.verdict, outcome.loss, tolerance, None)
    result.add_gradients(0, "reference", components, found.reference, found.reference)
    result.add_gradients(0, row, components, outcome.grad, found.reference)
    if timing and prepared is not None:
        _time(result, row, prepared, layout.point, min_time)
    meta.update(method=RICHARDSON + " along random directions", note=found.note,
                max_error=found.max_error, directions=found.directions)
    return result, meta


def _time(result: CaseResult, row: str, prepared: Prepared, x: np.ndarray,
          min_time: float) -> None:
    for step, seconds in prepared.prepare_s.items():
        result.add_timing(row, f"prepare: {step}", Measurement(seconds, 0.0, 1, seconds))
    inputs = prepared.inputs(x)
    for phase, function in (("loss", prepared.loss), ("grad", prepared.grad)):
        try:
            # partial, not a lambda: no Python frame of ours inside the measured call
            measurement = measure(functools.partial(function, inputs), min_time)
        except Exception:  # graded already; a phase that fails when timed gets no row
            continue
        result.add_timing(row, phase, measurement)


__all__ = ["RULE", "SAFETY", "Reference", "fd_reference", "floors_for", "self_check"]
