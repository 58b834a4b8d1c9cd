"""Comparison: every engine's loss and gradient graded against the reference.

The error rule is the one ADBench and GradBench use, ``rho = |a - b| / max(1, |a| + |b|)``: a
relative error for large values and an absolute one near zero. The worst component is the
``error``; ``rel_error = max|g - r| / max|r|`` is given beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..status import Status

#: Tolerance on rho for ``[expect]`` values checked against the reference.
EXPECT_TOLERANCE = 1e-9


def rho(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """``|a - b| / max(1, |a| + |b|)`` elementwise (ADBench, GradBench)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) / np.maximum(1.0, np.abs(a) + np.abs(b))


@dataclass(frozen=True)
class Outcome:
    """What one engine produced at one point: values, or why there are none."""

    loss: float = float("nan")
    grad: np.ndarray | None = None
    status: Status | None = None  # set when the engine did not produce values: error, unsupported..
    message: str = ""
    #: The precision the reference certified its values at (decimal digits); None elsewhere.
    digits: int | None = None


@dataclass(frozen=True)
class Verdict:
    """One engine's grade at one point."""

    status: Status
    error: float
    rel_error: float
    message: str


def _number(x: float) -> str:
    return f"{x:.12g}"


def grade(engine: str, outcome: Outcome, reference: Outcome, components: list[str],
          tolerance: float) -> Verdict:
    """Grade ``outcome`` against ``reference``: the loss first, then every gradient component."""
    nan = float("nan")
    if outcome.status is not None:
        return Verdict(outcome.status, nan, nan, outcome.message)
    if reference.status == Status.ERROR:  # the reference failed: no engine is at fault
        return Verdict(Status.UNRESOLVED, nan, nan, f"no verdict, the reference failed: "
                       f"{reference.message}")
    if reference.status is not None:
        return Verdict(reference.status, nan, nan, f"reference {reference.status}: "
                       f"{reference.message}")
    if not np.isfinite(outcome.loss):
        return Verdict(Status.NAN, nan, nan, f"loss: {engine} {outcome.loss} vs reference "
                       f"{_number(reference.loss)}")
    loss_error = float(rho(outcome.loss, reference.loss))
    if loss_error > tolerance:
        return Verdict(Status.MISMATCH, loss_error, nan,
                       f"loss: {engine} {_number(outcome.loss)} vs reference "
                       f"{_number(reference.loss)}: the loss itself differs (a translation bug, or "
                       "float64 cancellation or overflow)")
    grad, ref = outcome.grad, reference.grad
    bad = np.flatnonzero(~np.isfinite(grad))
    if bad.size:
        i = int(bad[0])
        return Verdict(Status.NAN, nan, nan, f"{components[i]}: {engine} {grad[i]} vs reference "
                       f"{_number(ref[i])}" + (f" (and {bad.size - 1} more)" if bad.size > 1
                                               else ""))
    errors = rho(grad, ref)
    worst = int(np.argmax(errors)) if errors.size else 0
    error = float(errors[worst]) if errors.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(grad - ref))) if ref.size else 0.0
    rel_error = diff / scale if scale > 0 else diff
    message = (f"{components[worst]}: {engine} {_number(grad[worst])} vs reference "
               f"{_number(ref[worst])}") if errors.size else ""
    status = Status.MISMATCH if error > tolerance else Status.OK
    return Verdict(status, error, rel_error, message)


def kink_verdict(engine: str, outcome: Outcome, kink: str, components: list[str],
                 left: np.ndarray, right: np.ndarray) -> Verdict:
    """At a kink: no verdict (``kink``) for a finite gradient, with the engine's value beside the
    one-sided derivatives of the first component whose sides differ; ``nan`` for a non-finite
    one, since a subgradient exists there (the classic: JAX's NaN for ``norm`` at 0)."""
    nan = float("nan")
    differ = np.flatnonzero(~(np.abs(left - right) <= 1e-12 * np.maximum(1, np.abs(left))))
    i = int(differ[0]) if differ.size else 0
    sides = f"one-sided {_number(left[i])} (left) / {_number(right[i])} (right)"
    grad = outcome.grad
    if engine != "reference" and grad is not None and not np.all(np.isfinite(grad)):
        bad = int(np.flatnonzero(~np.isfinite(grad))[0])
        return Verdict(Status.NAN, nan, nan,
                       f"{components[bad]}: {engine} {grad[bad]} at a kink ({kink}), where "
                       f"a subgradient exists: {components[i]} {sides}")
    value = _number(grad[i]) if grad is not None else "undefined"
    return Verdict(Status.KINK, nan, nan, f"kink: {kink}; {components[i]}: {engine} {value}, "
                   f"{sides}")


def check_expect(expected: float, actual: float, tolerance: float) -> bool:
    """Whether an ``[expect]`` value holds against the reference value."""
    return bool(np.isfinite(actual) and rho(expected, actual) <= tolerance)


def fails(status: str, declared: str | None) -> bool:
    """Whether a row fails the run: a failing status not declared, or a declared one not seen."""
    if declared:
        return status != declared
    return Status(status).fails
