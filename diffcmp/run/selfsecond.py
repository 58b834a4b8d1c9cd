"""Second order without a symbolic loss (:func:`diffcmp.check` with ``order=2`` or ``hvp=`` and
no ``loss=``): your Hessian-vector product and your framework's Hessian, graded against finite
differences of your own gradient.

The reference is Richardson-extrapolated central differences of the gradient the function gives
(reverse mode, or the hand-written one) along a direction, with an error estimate per component
(:func:`~diffcmp.engines.fd_estimate.line`, the same estimator as the black-box gradient's,
applied to each gradient component; ``2 * STEPS`` gradient calls per direction, shared by the
components): along the fixed seeded vector :func:`~diffcmp.run.second.tangent` for the product,
along every axis for the Hessian (column by column, ``2 * STEPS * n`` gradient calls; skipped
above ``max_hessian_n`` params). The floor rule is the gradient's
(:func:`~diffcmp.run.selfcheck.floors_for`): no difference within the reference's own
(safety-scaled) error is a mismatch. The reference rests on your gradient: a wrong gradient is
the gradient row's mismatch, and its differences are what your second derivatives are held to.
Where a one-sided difference of the gradient disagrees with the other side (a kink of the
gradient), the second derivatives are one-sided and not graded (``kink``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..engines.base import PHASES, Prepared
from ..engines.fd_estimate import Line, line
from ..engines.user_code import Layout, UserCodeEngine
from ..errors import UnsupportedError
from ..grading.grade import Outcome, Verdict, grade
from ..status import Status
from .options import MAX_HESSIAN_N
from .rows import CaseResult
from .second import hessian_names, product_names, tangent
from .selfcheck import RICHARDSON, Reference, floors_for


def grade_second_blackbox(result: CaseResult, row: str, engine: UserCodeEngine, layout: Layout,
                          tolerance: float, hessian: bool,
                          max_hessian_n: int = MAX_HESSIAN_N) -> dict[str, Any]:
    """Grade the user's ``"hvp"`` phase (and with ``hessian`` its ``"hessian"``) against
    differences of the user's gradient into ``result`` (rows ``derivative="hvp"`` /
    ``"hessian"`` of ``reference`` and ``row``); returns what the report says about the
    reference, by phase."""
    x = layout.point
    n = x.size
    components = layout.components
    try:
        prepared = engine.prepare_at(layout)
        f0, g0 = prepared.value_and_grad(x)
    except Exception as exc:  # graded at first order already: its error row says why
        prepared, f0, g0 = None, float("nan"), np.full(n, np.nan)
        failed = f"{type(exc).__name__}: {exc}"
    notes: dict[str, Any] = {}
    gradient = _cached_gradient(prepared)
    v = tangent(n)
    for phase in PHASES:
        if phase == "hessian" and not hessian:
            continue
        names = hessian_names(components) if phase == "hessian" else product_names(components)
        if prepared is None or not np.all(np.isfinite(g0)) or not np.isfinite(f0):
            why = (f"no reference: your function raised ({failed})" if prepared is None else
                   "no reference: your gradient or loss is not finite here (see its row)")
            result.add_agreement(0, "reference", Verdict(Status.UNRESOLVED, 0.0, 0.0, why), f0,
                                 0.0, None, derivative=phase)
            result.add_agreement(0, row, Verdict(Status.UNRESOLVED, np.nan, np.nan, why), f0,
                                 tolerance, None, derivative=phase)
            continue
        if phase == "hessian" and n > max_hessian_n:
            why = (f"{n:,} parameters, above max_hessian_n = {max_hessian_n:,}: the full "
                   "Hessian is skipped; the Hessian-vector product is graded")
            for name in ("reference", row):
                result.add_agreement(0, name, Verdict(Status.SKIPPED, np.nan, np.nan, why), f0,
                                     0.0 if name == "reference" else tolerance, None,
                                     derivative=phase)
            continue
        outcome = _own(prepared, phase, x, v, f0)
        directions = [v] if phase == "hvp" else list(np.eye(n))
        lines = [[line(lambda y, k=k: gradient(y)[k], x, d, float(g0[k])) for k in range(n)]
                 for d in directions]
        reference = _reference(lines, f0, phase, n)
        notes[phase] = reference.note
        floors, used = floors_for(reference, tolerance)
        result.add_agreement(0, "reference", Verdict(reference.outcome.status or Status.OK, 0.0,
                                                     0.0, reference.note), f0, 0.0, None,
                             derivative=phase)
        if reference.outcome.status == Status.KINK and outcome.status is None:
            verdict = Verdict(Status.KINK, np.nan, np.nan, reference.note)
        elif reference.outcome.status is not None and outcome.status is None:
            verdict = Verdict(Status.UNRESOLVED, np.nan, np.nan, reference.note)
        else:
            verdict = grade(row, outcome, reference.outcome, names, used, floors)
        result.add_agreement(0, row, verdict, f0, used, None, derivative=phase)
        cols = components if phase == "hessian" else ["v"]
        ref = np.array([ln.central for column in lines for ln in column])
        ref = ref.reshape(len(directions), n).T.ravel()  # row-major: H[i, j] = d g_i / d x_j
        result.add_hessian(0, "reference", components, cols, ref, ref)
        if outcome.grad is not None:
            result.add_hessian(0, row, components, cols, outcome.grad, ref)
    return notes


def _cached_gradient(prepared: Prepared | None) -> Callable[[np.ndarray], np.ndarray]:
    """The user's gradient at a flat point, each point computed once (every component's line
    takes the same steps); NaN where the function raises (a step out of its domain)."""
    cache: dict[bytes, np.ndarray] = {}

    def gradient(y: np.ndarray) -> np.ndarray:
        key = np.asarray(y, dtype=np.float64).tobytes()
        if key not in cache:
            try:
                cache[key] = np.asarray(prepared.value_and_grad(y)[1], dtype=np.float64)
            except Exception:  # outside the function's domain: the step is skipped
                cache[key] = np.full(y.size, np.nan)
        return cache[key]

    return gradient


def _own(prepared: Prepared, phase: str, x: np.ndarray, v: np.ndarray, f0: float) -> Outcome:
    """The user's ``phase`` at ``x`` (along ``v``), or why there is none."""
    found = prepared.phases.get(phase)
    if found is None:
        return Outcome(status=Status.UNSUPPORTED, message=f"no {phase} for this function")
    try:
        extra = (prepared.inputs(v),) if phase == "hvp" else ()
        values = found.read(found.call(prepared.inputs(x), *extra))
    except UnsupportedError as exc:
        return Outcome(status=Status.UNSUPPORTED, message=str(exc))
    except Exception as exc:  # the user's code failing is a result, not a crash
        return Outcome(status=Status.ERROR, message=f"{type(exc).__name__}: {exc}")
    return Outcome(loss=f0, grad=np.asarray(values, dtype=np.float64))


def _reference(lines: list[list[Line]], f0: float, phase: str, n: int) -> Reference:
    """The differences of the gradient as a reference: row-major values, their error estimates,
    and the sentence that says what they are (or why they are no reference)."""
    value = np.array([ln.central for column in lines for ln in column]).reshape(len(lines), n)
    error = np.array([ln.central_error for column in lines for ln in column]).reshape(
        len(lines), n)
    value, error = value.T.ravel(), error.T.ravel()
    along = ("along the fixed seeded vector v (diffcmp.run.second.tangent)" if phase == "hvp"
             else "along every axis, column by column")
    note = (f"no symbolic loss was given: the reference is {RICHARDSON} of your gradient "
            f"{along}")
    kinked = [ln for column in lines for ln in column if ln.kink]
    if kinked:
        note += ("; the one-sided differences of the gradient disagree (a kink of the "
                 "gradient): second derivatives are one-sided here, not graded")
        return Reference(Outcome(loss=f0, status=Status.KINK, message=note), error, RICHARDSON,
                         note)
    if not np.all(np.isfinite(value)):
        note += "; finite differences could not resolve it (the gradient is not finite nearby)"
        return Reference(Outcome(loss=f0, status=Status.UNRESOLVED, message=note), error,
                         RICHARDSON, note)
    scale = float(np.max(np.abs(value), initial=0.0))
    error = np.maximum(error, np.finfo(np.float64).eps * scale)
    note += f"; estimated error at most {float(np.max(error)):.2g} per component"
    return Reference(Outcome(loss=f0, grad=value), error, RICHARDSON, note)


__all__ = ["grade_second_blackbox"]
