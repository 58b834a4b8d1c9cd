"""The few-line failure message of a run, for an :class:`AssertionError` and a pytest item: which
engine, its status, the worst component with both values, the error and the tolerance. No
table, no DataFrame."""

from __future__ import annotations

import math

from ..results.format import number
from ..results.tables import Tables

#: Failing rows shown before "and N more".
MAX_LINES = 5


def _error(error: float, tolerance: float) -> str:
    if math.isnan(error):
        return ""
    return f" (error {error:.3g} > tolerance {tolerance:.3g})"


def failure_message(result: Tables, limit: int = MAX_LINES) -> str:
    """What failed, one line each (at most ``limit`` rows, then a count); ``""`` when nothing
    did."""
    lines: list[str] = []
    cases = list(dict.fromkeys(result.agreement["case"]))
    several = len(cases) > 1
    failing = result.failing()
    declared = result.declared
    for row in failing.itertuples():
        where = f"{row.case}: " if several else ""
        point = f" at point {row.point}" if row.point else ""
        expected = declared.get(row.case, {}).get(row.engine)
        status = f"{row.status} (declared {expected})" if expected else row.status
        message = row.message or "no message"
        lines.append(f"  {where}{row.engine}: {status}{point}: {message}"
                     f"{_error(float(row.error), float(row.tolerance))}")
    held = result.expectations
    if not held.empty:
        for row in held[~held["holds"].astype(bool)].itertuples():
            where = f"{row.case}: " if several else ""
            if row.kind == "status":
                if row.actual == "not run":  # else the engine's own failing row says it
                    lines.append(f"  {where}expect status {row.item} = {row.expected}: the "
                                 "engine did not run")
                continue
            lines.append(f"  {where}expect {row.kind} {row.item}: expected "
                         f"{number(row.expected)}, the reference says {number(row.actual)}")
    for row in result.errors.itertuples():
        lines.append(f"  {row.message}")
    if not lines:
        return ""
    shown = lines[:limit] + ([f"  ... and {len(lines) - limit} more"] if len(lines) > limit
                             else [])
    bad_engines = sorted(set(failing["engine"]))
    name = f"'{cases[0]}'" if len(cases) == 1 else f"{len(cases)} cases"
    head = (f"diffcmp: {len(bad_engines)} engine(s) disagree with the reference on {name}"
            if bad_engines else f"diffcmp: the expectations of {name} do not hold")
    if not bad_engines and not result.errors.empty:
        head = "diffcmp: case files could not be loaded"
    return "\n".join([head, *shown])


__all__ = ["failure_message"]
