"""A GradBench tool's answer graded like an engine's output: its values as an
:class:`~diffcmp.grading.grade.Outcome`, graded by :func:`~diffcmp.grading.grade.grade` against
the certified reference with the case's floors (:mod:`diffcmp.gradbench.reference`), at a kink
by :func:`~diffcmp.grading.grade.kink_verdict`. An answer of the wrong shape is an ``error``
naming what was expected.

Beside diffcmp's verdict each row carries GradBench's own (``comparison.py``:
``|a - b| / max(1, |a| + |b|) <= 1e-4`` for every value, here against the reference's values),
so that the reader sees where GradBench's rule passes what diffcmp catches: a softmax
component of 4e-4 that is 1% off differs by 4e-6, which the floor of 1 makes an error of 4e-6.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..grading.grade import Outcome, grade, kink_verdict, rho
from ..registry import engine_info
from ..status import Status
from .evals import Eval, Input
from .reference import Expected, Reference

#: GradBench's tolerance (``comparison.py``, ``compare_json_objects(tolerance=1e-4)``).
GRADBENCH_TOLERANCE = 1e-4
#: The tolerance a tool is graded at unless given: a float64 AD tool is exact up to rounding,
#: like diffcmp's own reverse-mode engines.
DEFAULT_TOLERANCE = engine_info("torch").tolerance
TOLERANCE_SOURCE = f"as diffcmp's torch engine: {engine_info('torch').tolerance_source}"


def read_output(output: Any, shape: tuple[int, ...]) -> np.ndarray | str:
    """The answer as a flat float64 array, or what is wrong with its shape."""
    if shape == ():
        if isinstance(output, bool) or not isinstance(output, int | float):
            return f"expected a number, got {_kind(output)}"
        return np.array([float(output)])
    try:
        values = np.asarray(output, dtype=np.float64)
    except (ValueError, TypeError):
        return f"expected {_shape(shape)} of numbers, got {_kind(output)}"
    if values.shape != shape or _has_bool(output):
        got = _kind(output) if values.shape == shape else f"{_shape(values.shape)}"
        return f"expected {_shape(shape)}, got {got}"
    return values.ravel()


def _has_bool(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_bool(v) for v in value)
    return isinstance(value, bool)


def _shape(shape: tuple[int, ...]) -> str:
    if shape == ():
        return "a number"
    if len(shape) == 1:
        return f"a list of {shape[0]}"
    return f"{' x '.join(map(str, shape))} nested lists"


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)}" + (f" (its first item {_kind(value[0])})"
                                            if (value and not isinstance(value[0], int | float))
                                            or _has_bool(value[:1]) else "")
    if value is None:
        return "null"
    return f"a {type(value).__name__} ({str(value)[:40]})"


def expected_for(evaluation: Eval, function: str, reference: Reference) -> Expected:
    """The reference values ``function``'s answer is graded against."""
    if function == evaluation.value:
        return reference.value(function)
    return reference.newton_direction() if evaluation.newton else reference.gradient()


def grade_answer(evaluation: Eval, item: Input, function: str, output: Any,
                 reference: Reference, tool: str, tolerance: float) -> dict[str, Any]:
    """Grade the tool's ``output`` for ``function`` at ``item``: a row (status, error, the worst
    component's name, floor, GradBench's verdict, message)."""
    nan = float("nan")
    row: dict[str, Any] = {"status": Status.ERROR.value, "protocol": "", "error": nan,
                           "rel_error": nan, "worst": "", "floor": nan,
                           "floor_source": "", "digits": None, "gradbench": "",
                           "gradbench_error": nan, "message": ""}
    values = read_output(output, evaluation.shape(function, item))
    if isinstance(values, str):
        row.update(protocol="wrong shape", message=f"{function}: {values}")
        return row
    if reference.error:
        row.update(status=Status.UNRESOLVED.value, message=f"no reference: {reference.error}")
        return row
    expected = expected_for(evaluation, function, reference)
    ref = expected.outcome
    outcome = Outcome(loss=ref.loss, grad=values)
    what = "values" if function == evaluation.value else "gradient components"
    if expected.sides.kink and ref.status in (None, Status.UNDEFINED):
        verdict = kink_verdict(tool, outcome, expected.sides.kink, expected.names,
                               expected.sides.left, expected.sides.right, reference=ref,
                               tolerance=tolerance, floors=expected.floors,
                               spread=expected.sides.spread, pairs=expected.sides.pairs)
    else:
        verdict = grade(tool, outcome, ref, expected.names, tolerance, expected.floors, what)
    row.update(status=verdict.status.value, error=verdict.error, rel_error=verdict.rel_error,
               message=verdict.message, floor_source=expected.floors.source,
               digits=ref.digits)
    if ref.grad is not None and ref.status is None:
        row.update(_worst(values, expected))
        gap = rho(values, ref.grad)
        worst = float(np.max(np.where(np.isnan(gap), np.inf, gap))) if gap.size else 0.0
        row.update(gradbench_error=worst,
                   gradbench="pass" if worst <= GRADBENCH_TOLERANCE else "fail")
    return row


def _worst(values: np.ndarray, expected: Expected) -> dict[str, Any]:
    """The component with the largest error under the case's floors, and its floor."""
    ref = expected.outcome
    floors = expected.floors.for_grad(len(values))
    errors = rho(values, ref.grad, floors)
    within = np.abs(values) <= ref.bounds()[1:]
    errors = np.where(within, 0.0, np.where(np.isnan(errors), np.inf, errors))
    if not errors.size:
        return {}
    k = int(np.argmax(errors))
    return {"worst": expected.names[k], "floor": float(floors[k])}
