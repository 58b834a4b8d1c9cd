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

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..status import SEVERITY, Status
from .exact import Exact

#: Tolerance on the error for ``[expect]`` values checked against the reference.
EXPECT_TOLERANCE = 1e-9
#: ADBench's and GradBench's floor: the most diffcmp's floor can be.
ADBENCH_FLOOR = 1.0


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

    def for_grad(self, n: int) -> np.ndarray:
        """The gradient floors as an array of ``n`` (ADBench's 1 where none was derived)."""
        if self.grad is None:
            return np.full(n, ADBENCH_FLOOR)
        return np.minimum(np.asarray(self.grad, dtype=float), ADBENCH_FLOOR)

    def for_loss(self) -> float:
        """The loss floor (at most ADBench's 1)."""
        return min(float(self.loss), ADBENCH_FLOOR)


@dataclass(frozen=True)
class Outcome:
    """What one engine produced at one point: values, or why there are none."""

    loss: float = float("nan")
    grad: np.ndarray | None = None
    status: Status | None = None  # set when the engine did not produce values: error, unsupported..
    message: str = ""
    #: The precision the reference certified its values at (decimal digits); None elsewhere.
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
          tolerance: float, floors: Floors = Floors()) -> Verdict:
    """Grade ``outcome`` against ``reference``: the loss first, then every gradient component,
    each with its floor from ``floors``. A reference value known only as a bound ``|v| <= b``
    (:attr:`Outcome.exact`) is graded as 0 within ``b``: an engine's value ``a`` with
    ``|a| <= b`` is exact, any other gets the usual error against 0."""
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
        return Verdict(Status.NAN, nan, nan, f"loss: {engine} {outcome.loss} vs reference "
                       f"{reference.shown(0, reference.loss)}")
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
        return Verdict(Status.NAN, nan, nan, f"{components[i]}: {engine} {grad[i]} vs reference "
                       f"{reference.shown(i + 1, ref[i])}" + (
                           f" (and {bad.size - 1} more)" if bad.size > 1 else ""))
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
    message = "" if status == Status.OK else (
        f"{components[worst]}: {engine} {_number(grad[worst])} vs reference "
        f"{reference.shown(worst + 1, ref[worst])}")
    return Verdict(status, error, rel_error, message,
                   float(np.max(np.where(within, 0.0, rho(grad, ref)))),
                   float(grad_floors[worst]))


def _beyond_float64(engine: str, outcome: Outcome, reference: Outcome,
                    components: list[str]) -> Verdict:
    """Where a true value is beyond float64's range a float64 engine overflows (``nan``: not
    finite where the truth is) or returns a finite value, which is wrong (``mismatch``)."""
    nan = float("nan")
    values = [outcome.loss, *(outcome.grad if outcome.grad is not None else [])]
    truth = [reference.loss, *(reference.grad if reference.grad is not None else [])]
    names = ["loss", *components]
    for name, value, true in zip(names, values, truth, strict=False):
        if np.isfinite(true) or value == true:
            continue
        status = Status.MISMATCH if np.isfinite(value) else Status.NAN
        return Verdict(status, nan, nan, f"{name}: {engine} {_number(value)}, but "
                       f"{reference.overflow} (it exists, so float64 overflows here)")
    return Verdict(Status.NAN, nan, nan, f"{engine}: {reference.overflow}; its float64 "
                   "values overflow")


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


def check_expect(expected: float, actual: float, tolerance: float,
                 floor: float = ADBENCH_FLOOR) -> bool:
    """Whether an ``[expect]`` value holds against the reference value (with its floor)."""
    return bool(np.isfinite(actual) and rho(expected, actual, floor) <= tolerance)


def fails(status: str, declared: str | None) -> bool:
    """Whether a row fails the run: a failing status not declared, or a declared one not seen
    (``declared``: what :func:`declaration` says for the row)."""
    if declared:
        return status != declared
    return Status(status).fails


def declaration(declared: Mapping[str, str], engine: str, status: str,
                allow_undefined: bool = False) -> str | None:
    """What a case declares for one row of ``engine`` with ``status``: the engine's own
    ``[expect.status]`` entry (in ``declared``, the case's); else, for an ``undefined`` row,
    ``undefined`` when the case declares the reference undefined (every engine's row at such a
    point repeats the reference's verdict, and is covered by its declaration) or the run allows
    undefined points (``allow_undefined=True`` in Python); else ``None``."""
    own = declared.get(engine)
    if own:
        return own
    if status == Status.UNDEFINED and (allow_undefined
                                       or declared.get("reference") == Status.UNDEFINED):
        return Status.UNDEFINED.value
    return None


def rank(status: str, declared: str | None) -> tuple[bool, int]:
    """How bad a row is, for picking the worst of several: failing the run outranks
    everything, then :data:`~diffcmp.status.SEVERITY`."""
    return fails(status, declared), SEVERITY.get(Status(status), 5)
