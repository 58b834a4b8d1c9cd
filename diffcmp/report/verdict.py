"""The verdict a run opens with (:func:`verdict`): at how many graded points every engine agrees
with the reference, the points no engine could be graded at counted apart (kinks, undefined,
unresolved), and who is off where. The markdown report, the HTML view and the terminal line share
it."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..results.derived import (
    DERIVATIVE_NAMES,
    SECOND_ORDER,
    PointCounts,
    has_second_order,
    of_derivative,
    point_counts,
)
from ..results.format import number
from ..results.tables import Tables
from ..run.rows import NOT_RUN
from ..status import Status
from .blocks import anchor

#: Marks a row whose failure its case declares.
DECLARED_MARK = "†"


def engines_of(result: Tables) -> list[str]:
    """The engines a run graded, in its order (the reference aside)."""
    return [e for e in result.meta["options"]["engines"] if e != "reference"]


def cases_of(result: Tables) -> list[str]:
    """The cases of a run, in its order."""
    return list(dict.fromkeys(result.agreement["case"]))


def verdict(result: Tables, links: bool = True) -> str:
    """One paragraph: at how many graded points every engine agrees, the points where no engine
    could be graded (kinks, undefined, unresolved) counted apart, and who is off where.

    ``PASS`` needs a point that was graded: a run that passes with nothing graded (only kinks,
    declared undefined points...) says ``NOTHING GRADED``, never "agree". Case names link to
    their sections unless ``links`` is false (for a terminal).
    """
    cases = cases_of(result)
    engines = engines_of(result)
    counts = point_counts(result)
    failing = result.failures()
    status = "FAIL" if result.exit_code else "PASS" if counts.graded else "NOTHING GRADED"
    if not cases:
        text = "No case ran."
    else:
        text = agreement_sentence(engines, counts.graded, counts.agreed, counts.cases,
                                  counts.points)
        if counts.kink_graded:
            text += (f" ({counts.kink_graded} of them at kinks, the components the kink touches "
                     "graded against their one-sided derivatives)")
        if counts.declared_off:
            at = f"at {counts.declared_off} more" if counts.agreed else \
                "there" if counts.declared_off == counts.graded else \
                f"at {counts.declared_off} of them"
            text += f"; {at}, engines are off as their cases declare ({DECLARED_MARK})"
        ungraded = _ungraded(counts, bool(result.meta["options"].get("allow_undefined")))
        text += ("; " + ungraded if ungraded else "")
        if has_second_order(result):
            text += "; " + _second_sentence(point_counts(result, SECOND_ORDER), len(engines))
        # engines off on the same cases in the same way are named together
        groups: dict[tuple[tuple[str, ...], str, tuple[str, ...]], list[str]] = {}
        for engine in ["reference", *engines]:
            rows = failing[failing["engine"] == engine]
            if not rows.empty:
                key = (tuple(dict.fromkeys(rows["case"])), "/".join(sorted(set(rows["status"]))),
                       tuple(d for d in ("gradient", *SECOND_ORDER)
                             if d in set(rows.get("derivative", ["gradient"]))))
                groups.setdefault(key, []).append(engine)
        offs = []
        for (off_cases, statuses, derivatives), names in groups.items():
            named = ", ".join(f"[`{c}`](#{anchor(c)})" if links else c for c in off_cases)
            where = named if len(off_cases) == 1 else f"{len(off_cases)}: {named}"
            if names == ["reference"] and statuses == Status.UNDEFINED:
                offs.append(f"the loss is undefined on {where}, which nothing declares "
                            '(`[expect.status] reference = "undefined"` would)')
                continue
            if derivatives != ("gradient",):  # say which derivative is off
                what = _listed([DERIVATIVE_NAMES[d] for d in derivatives])
                where = f"the {what} of {where}"
            if names == ["reference"]:  # the point or diffcmp, not an engine, is at fault
                declared = result.declared
                as_declared = any(declared.get(c, {}).get("reference") for c in off_cases)
                offs.append(f"the reference is {statuses}"
                            + (", not as declared," if as_declared else "") + f" on {where}")
                continue
            who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            offs.append(f"{who} {'is' if len(names) == 1 else 'are'} off ({statuses}) on "
                        f"{where}")
        text += ("; " + "; ".join(offs) if offs else "") + "."
    gradient = of_derivative(result.agreement, "gradient")
    not_run = [(s, e, gradient[(gradient["status"] == s)
                               & (gradient["engine"] == e)]["case"].nunique())
               for s in (Status.UNSUPPORTED, Status.SKIPPED) for e in engines]
    if any(n for _, _, n in not_run):
        text += " Engines that could not be asked: " + ", ".join(
            f"{e} {s} on {_count(n, 'case')}" for s, e, n in not_run if n) + "."
    text += _second_not_run(result, engines)
    held = result.expectations
    failed = held[~held["holds"].astype(bool)] if not held.empty else held
    if not failed.empty:
        text += f" {len(failed)} expectation(s) failed: " + ", ".join(
            f"`{r.case}` {r.item} expected {number(r.expected)}, got {number(r.actual)}"
            for r in failed.itertuples()) + "."
    text += _ignored(held)
    declared = sum(len(v) for v in result.declared.values())
    if declared:
        text += (f" {declared} known failure(s) are declared by their cases and count as "
                 f"expected (marked {DECLARED_MARK}).")
    if not result.errors.empty:
        text += f" {len(result.errors)} case file(s) could not be loaded."
    return f"**{status}.** {text}"


def _second_sentence(counts: PointCounts, engines: int) -> str:
    """How the engines' second derivatives fared at the points where they were graded."""
    their = "its" if engines == 1 else "their"
    what = f"{their} Hessians and Hessian-vector products"
    graded, agreed = counts.graded, counts.agreed
    if not graded:
        return "no Hessian or Hessian-vector product was graded"
    declared = f" (off as declared at {counts.declared_off})" if counts.declared_off else ""
    if graded == 1:
        return f"{what} {'agree' if agreed else 'do not agree'} at the one graded point" \
            + declared
    if agreed == graded:
        return f"{what} agree at all {graded} graded points"
    if agreed == 0:
        return f"{what} do not agree at any of the {graded} graded points{declared}"
    return f"{what} agree at {agreed} of {graded} graded points{declared}"


def _second_not_run(result: Tables, engines: Sequence[str]) -> str:
    """The engines whose second derivatives could not be asked for (unsupported, skipped), by
    status and number of cases, engines alike named together; ``""`` when none."""
    second = of_derivative(result.agreement, *SECOND_ORDER)
    groups: dict[tuple[str, int], list[str]] = {}
    for status in (Status.UNSUPPORTED, Status.SKIPPED):
        for engine in engines:
            n = second[(second["status"] == status) & (second["engine"] == engine)][
                "case"].nunique()
            if n:
                groups.setdefault((status, n), []).append(engine)
    if not groups:
        return ""
    parts = []
    for (status, n), names in groups.items():
        who = "every engine" if len(names) == len(engines) > 1 else _listed(names)
        parts.append(f"{who} {status} on {_count(n, 'case')}")
    return " Second derivatives that could not be asked for: " + ", ".join(parts) + "."


def _ignored(held: pd.DataFrame) -> str:
    """The declared statuses nothing was checked against, their engines not having run, by
    engine: `` Declared statuses ignored (engine not run): sympy on 2 cases, ...``."""
    if held.empty:
        return ""
    ignored = held[(held["kind"] == "status") & (held["actual"] == NOT_RUN)]
    if ignored.empty:
        return ""
    by_engine = ignored.groupby("item", sort=False)["case"].nunique()
    return " Declared statuses ignored (engine not run): " + ", ".join(
        f"{engine} on {_count(int(n), 'case')}" for engine, n in by_engine.items()) + "."


def _ungraded(counts: PointCounts, allowed: bool = False) -> str:
    """The points no engine was graded at, by why: ``2 points are kinks, 1 undefined
    (declared)`` (``allowed``: the run allows undefined points); ``""`` when there are none."""
    declared = "undefined (allowed)" if allowed else "undefined (declared)"
    parts = [(counts.kink, "a kink", "kinks"),
             (counts.undefined_declared, declared, declared),
             (counts.undefined, "undefined (not declared)", "undefined (not declared)"),
             (counts.unresolved, "unresolved", "unresolved"),
             (counts.ungraded, "not graded (no engine could be)", "not graded (no engine "
              "could be)")]
    shown = [(n, one, many) for n, one, many in parts if n]
    if not shown:
        return ""
    n, one, many = shown[0]
    first = f"1 point is {one}" if n == 1 else f"{n} points are {many}"
    rest = [f"{n} {one.removeprefix('a ') if n == 1 else many}" for n, one, many in shown[1:]]
    return ", ".join([first, *rest])


def agreement_sentence(engines: Sequence[str], graded: int, agreed: int, cases: int,
                       points: int | None = None) -> str:
    """Whether every one of ``engines`` agrees with the reference at the ``graded`` points of
    ``cases`` cases (``agreed`` of them with no failing row), worded for one point, all, none
    or some of them, and for one engine or several; with nothing graded, that no engine was
    graded at any of the ``points``."""
    of = "the one case" if cases == 1 else f"{cases} cases"
    if not engines:
        return f"Only the reference ran, on {of}"
    if not graded:
        total = points if points is not None else cases
        at = "the one point" if total == 1 else f"any of the {total} points"
        return f"No engine was graded at {at} of {of}"
    if len(engines) == 1:
        every, agree, not_all = engines[0], "agrees", f"{engines[0]} does not agree"
    elif len(engines) == 2:
        pair = " and ".join(engines)
        every, agree, not_all = f"Both {pair}", "agree", f"{pair} do not both agree"
    else:
        names = f"{len(engines)} engines ({', '.join(engines)})"
        every, agree, not_all = f"All {names}", "agree", f"Not all {names} agree"
    if graded == 1:
        return f"{every if agreed else not_all}{' ' + agree if agreed else ''} with the " \
               f"reference at the one graded point of {of}"
    if agreed == graded:
        return f"{every} {agree} with the reference at all {graded} graded points of {of}"
    if agreed == 0:
        return f"{not_all} with the reference at any of the {graded} graded points of {of}"
    return f"{every} {agree} with the reference at {agreed} of {graded} graded points of {of}"


def _listed(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


__all__ = ["DECLARED_MARK", "agreement_sentence", "cases_of", "engines_of", "verdict"]
