"""The few-line failure message of a run, for an :class:`AssertionError` and a pytest item: which
engine, its status, the worst component with both values, the error and the tolerance. No
table, no DataFrame."""

from __future__ import annotations

import math

from ..results.derived import DERIVATIVE_NAMES
from ..results.format import number
from ..results.tables import Tables

#: Failing rows shown before "and N more".
MAX_LINES = 5


#: How to declare an undefined point, in a case file and in Python.
DECLARE_UNDEFINED = ('[expect.status] reference = "undefined" in a case file, '
                     "allow_undefined=True in Python")


def _error(error: float, tolerance: float, message: str = "") -> str:
    """`` (error 0.762 > tolerance 1e-10)`` after a row's message, unless it says its errors."""
    if math.isnan(error) or not error > tolerance or "> tolerance" in message:
        return ""
    return f" (error {error:.3g} > tolerance {tolerance:.3g})"


def failure_message(result: Tables, limit: int = MAX_LINES) -> str:
    """What failed, one line each (at most ``limit`` rows, then a count); ``""`` when nothing
    did."""
    lines: list[str] = []
    cases = list(dict.fromkeys(result.agreement["case"]))
    several = len(cases) > 1
    failing = result.failures()  # an undefined point once, by the reference's row
    for row in failing.itertuples():
        where = f"{row.case}: " if several else ""
        point = f" at point {row.point}" if row.point else ""
        expected = result.declaration(row.case, row.engine, row.status, row.derivative)
        status = f"{row.status} (declared {expected})" if expected else row.status
        message = row.message or "no message"
        derivative = getattr(row, "derivative", "gradient")
        what = f" ({DERIVATIVE_NAMES.get(derivative, derivative)})" \
            if derivative != "gradient" else ""
        lines.append(f"  {where}{row.engine}{what}: {status}{point}: {message}"
                     f"{_error(float(row.error), float(row.tolerance), message)}")
    held = result.expectations
    if not held.empty:
        for row in held[~held["holds"].astype(bool)].itertuples():
            where = f"{row.case}: " if several else ""
            if row.kind == "status":  # the engine's own failing row says it
                continue
            lines.append(f"  {where}expect {row.kind} {row.item}: expected "
                         f"{number(row.expected)}, the reference says {number(row.actual)}")
    for row in result.errors.itertuples():
        lines.append(f"  {row.message}")
    if not lines:
        return ""
    shown = lines[:limit] + ([f"  ... and {len(lines) - limit} more"] if len(lines) > limit
                             else [])
    undefined = failing["status"] == "undefined"  # the point, not an engine, is at fault
    reference = failing["engine"] == "reference"
    bad_engines = sorted(set(failing[~undefined & ~reference]["engine"]))
    name = f"'{cases[0]}'" if len(cases) == 1 else f"{len(cases)} cases"
    heads = []
    if bad_engines:
        heads.append(f"{len(bad_engines)} engine(s) disagree with the reference on {name}")
    if (reference & ~undefined).any():
        statuses = "/".join(sorted(set(failing[reference & ~undefined]["status"])))
        heads.append(f"the reference's row fails ({statuses}) on {name}")
    if undefined.any():
        points = len(set(zip(failing[undefined]["case"], failing[undefined]["point"],
                             strict=True)))
        heads.append(f"the loss is undefined at {points} point{'s' if points > 1 else ''} of "
                     f"{name}, and nothing declares it ({DECLARE_UNDEFINED})")
    head = "diffcmp: " + ("; ".join(heads) if heads else f"the expectations of {name} do not "
                          "hold")
    if not heads and not result.errors.empty:
        head = "diffcmp: case files could not be loaded"
    return "\n".join([head, *shown])


__all__ = ["DECLARE_UNDEFINED", "failure_message"]
