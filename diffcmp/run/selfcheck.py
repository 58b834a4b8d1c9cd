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
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engines.base import Prepared
from ..engines.fd_estimate import EPS, complex_step, complex_usable, richardson, rounding_spread
from ..engines.nonfinite import first_nonfinite
from ..engines.user_code import Layout, UserCodeEngine
from ..errors import DiffcmpError
from ..grading.grade import Floors, Outcome, Verdict, grade
from ..status import Status
from .rows import CaseResult
from .timing import Measurement, measure

#: How many times its own error estimate the reference may be off before a difference counts.
SAFETY = 4.0
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
    the sentence that says what it is."""

    outcome: Outcome
    error: np.ndarray
    method: str
    note: str


def fd_reference(engine: UserCodeEngine, layout: Layout) -> Reference:
    """The best finite-difference gradient of the user's function at ``layout.point``.

    Raises :class:`DiffcmpError` when the function gives two different losses at the same point
    (randomness inside it: no difference quotient means anything then).
    """
    f = engine.value_at(layout)
    x = layout.point
    first, second = float(f(x).real), float(f(x).real)
    if not (first == second or (np.isnan(first) and np.isnan(second))):
        raise DiffcmpError(f"the function gave two different losses at the same point ({first!r} "
                           f"and {second!r}): randomness inside it (dropout, sampling) makes "
                           "finite differences meaningless; fix its seed or use eval mode")
    if not np.isfinite(first):
        where = first_nonfinite(engine.function, engine.framework, layout.split(x), layout.data)
        outcome = Outcome(loss=first, status=Status.UNDEFINED,
                          message=f"the function's loss is {first} at this point"
                          + (f"; {where}" if where else ""))
        return Reference(outcome, np.full(x.size, np.inf), "", outcome.message)
    rich = richardson(lambda p: f(p).real, x)
    value, error, method = rich.value, rich.error, RICHARDSON
    why = complex_usable(f, x, first)
    if not why:
        step = complex_step(f, x)
        close = np.abs(step - rich.value) <= SAFETY * rich.error
        off = np.flatnonzero(~close & np.isfinite(rich.value))
        if off.size:
            k = int(off[0])
            why = (f"its complex-step derivative disagrees with central differences at "
                   f"{layout.components[k]} ({step[k]:.12g} vs {rich.value[k]:.12g} +- "
                   f"{rich.error[k]:.2g}): a non-analytic operation (abs, max, a comparison) "
                   "accepts complex input")
        else:
            value, method = step, COMPLEX_STEP
            error = rounding_spread(f, x, step)
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
    return Reference(Outcome(loss=first, grad=value), error, method, note)


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
               timing: bool = False, min_time: float = 0.2) -> tuple[CaseResult, dict[str, Any]]:
    """Grade the user's gradient against :func:`fd_reference`: the case's rows (``reference``
    and ``row``) and what the report says about the reference (``meta["fd_reference"]``)."""
    result = CaseResult(name, source="")
    prepared: Prepared | None = None
    try:
        prepared = engine.prepare_at(layout)
        loss, grad = prepared.value_and_grad(layout.point)
        outcome = Outcome(loss=loss, grad=grad)
    except Exception as exc:  # the user's code failing is a result, not a crash
        outcome = Outcome(status=Status.ERROR, message=f"{type(exc).__name__}: {exc}")
        prepared = None
    reference = fd_reference(engine, layout)
    floors, used = floors_for(reference, tolerance)
    components = layout.components
    ref = reference.outcome
    result.add_agreement(0, "reference", Verdict(ref.status or Status.OK, 0.0, 0.0,
                                                 reference.note), ref.loss, 0.0, None)
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
    meta = {"kind": "finite differences of the function", "method": reference.method,
            "note": reference.note, "rule": RULE, "safety": SAFETY,
            "tolerance": tolerance, "tolerance_used": used,
            "max_error": float(np.max(reference.error)) if reference.error.size else 0.0}
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
