"""Second order: every engine's Hessian and Hessian-vector product, graded against the
reference's like gradients (the same statuses, floors from the product's rounding bound, a
tolerance by engine and order, kinks and undefined points handled the same way).

An engine offers second order through its :attr:`~diffcmp.engines.base.Prepared.phases`
(``"hessian"``, ``"hvp"``); one that offers none is ``unsupported`` there. The product is taken
along one fixed vector (:func:`tangent`, seeded), so a run is reproducible. Above
``Options.max_hessian_n`` parameters the full Hessian is ``skipped``, with its reason, and the
product still runs. At a point on a switch (a kink, or a switch the gradient crosses smoothly,
as ``relu(w)**2`` at 0) the second derivatives are one-sided: every engine's Hessian is
``kink`` there, never ``mismatch``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..engines.base import PHASES, Engine, Prepared
from ..grading import grade as grading
from ..grading.exact import Exact
from ..grading.floors import FloorFinder
from ..grading.kinks import Sides
from ..status import Status
from ..symbolic.problem import Problem
from .options import Options, tolerance_for
from .rows import CaseResult
from .watch import engine_call

#: The seed of the vector every Hessian-vector product is taken along.
TANGENT_SEED = 20181203


#: What a phase's values are called in messages.
VALUES = {"hessian": "Hessian entries", "hvp": "components of the product"}


def tangent(n: int) -> np.ndarray:
    """The fixed direction of every Hessian-vector product: standard normal, seeded."""
    return np.random.default_rng(TANGENT_SEED).standard_normal(n)


def hessian_names(components: list[str]) -> list[str]:
    """The Hessian's entries, row-major: ``H[x, y]``."""
    return [f"H[{a}, {b}]" for a in components for b in components]


def product_names(components: list[str]) -> list[str]:
    """The Hessian-vector product's components: ``(Hv)[w[0]]``."""
    return [f"(Hv)[{c}]" for c in components]


@dataclass(frozen=True)
class Second:
    """What one case's second-order grading needs beyond the first order's."""

    problem: Problem
    engines: Mapping[str, Engine]
    prepared: Mapping[str, Prepared | grading.Outcome]
    options: Options


def _call(engine: Engine, prepared: Prepared | grading.Outcome, phase: str, x: np.ndarray,
          v: np.ndarray | None, attempt: Callable[[Callable[[], Any]], Any],
          loss: float) -> grading.Outcome:
    """One engine's ``phase`` at ``x`` (along ``v`` for a product) as an outcome: its values,
    or why there are none; the reference's with its certificate."""
    if phase not in engine.offers:
        return grading.Outcome(status=Status.UNSUPPORTED, message=(
            f"this engine offers no {_what(phase)} (it computes: "
            f"{', '.join(sorted(engine.offers))})"))
    if isinstance(prepared, grading.Outcome):
        return prepared
    found = prepared.phases.get(phase)
    if found is None:
        return grading.Outcome(status=Status.UNSUPPORTED,
                               message=f"no {_what(phase)} for this loss")
    prepared.details.clear()
    inputs = prepared.inputs(x)
    extra = () if v is None else (prepared.inputs(v),)
    values = attempt(lambda: found.read(found.call(inputs, *extra)))
    digits = prepared.details.get("digits")
    if isinstance(values, grading.Outcome):
        return values if digits is None else replace(values, digits=digits)
    certified = prepared.details.get("certified")
    exact = Exact.of(certified.values, certified.bounds) if certified is not None and len(
        certified.values) == 1 + len(values) else None
    return grading.Outcome(loss=loss, grad=np.asarray(values, dtype=np.float64), digits=digits,
                           exact=exact, precision=prepared.details.get("precision"),
                           overflow=prepared.details.get("overflow", ""),
                           message=prepared.details.get("overflow", ""))


def _what(phase: str) -> str:
    return {"hessian": "Hessian", "hvp": "Hessian-vector product"}[phase]


def grade_second(second: Second, result: CaseResult, points: list[np.ndarray],
                 sides: list[Sides], losses: list[float], finder: FloorFinder,
                 first_floors: list[grading.Floors],
                 attempt: Callable[[Callable[[], Any]], Any]) -> dict[str, list[Any]]:
    """Grade every engine's Hessian and Hessian-vector product at every point into
    ``result``; ``losses`` are the reference's loss at each point (the loss is graded with the
    gradient), ``first_floors`` the first-order floors found there (the finite-difference
    engines raise theirs from them). Returns, by engine, the phases that produced values at
    the first point (what timing measures)."""
    problem, options = second.problem, second.options
    components = problem.components
    n = len(components)
    v = tangent(n)
    produced: dict[str, list[Any]] = {name: [] for name in second.engines}
    for phase in PHASES:
        skip = phase == "hessian" and n > options.max_hessian_n
        names = hessian_names(components) if phase == "hessian" else product_names(components)
        declared = problem.case.expect.get(f"{phase}_status", {})
        for index, x in enumerate(points):
            along = v if phase == "hvp" else None
            if skip:
                outcomes = {name: grading.Outcome(status=Status.SKIPPED, message=(
                    f"{n:,} parameters, above max_hessian_n = {options.max_hessian_n:,} "
                    "(--max-hessian-n): the full Hessian is skipped; the Hessian-vector "
                    "product is graded")) for name in second.engines}
            else:
                outcomes = {}
                for name, engine in second.engines.items():
                    with engine_call(name):
                        outcomes[name] = _call(engine, second.prepared[name], phase, x, along,
                                               attempt, losses[index])
            reference = outcomes["reference"]
            on_switch = sides[index].kink or sides[index].left.size
            floors: grading.Floors | None = None
            first = first_floors[index]
            for name, outcome in outcomes.items():
                tolerance = tolerance_for(problem.case, name, options, phase)
                if on_switch and outcome.status in (None, Status.UNDEFINED, Status.UNRESOLVED):
                    where = sides[index].kink or "a switch the gradient crosses smoothly"
                    verdict = grading.Verdict(Status.KINK, np.nan, np.nan, (
                        f"on a switch ({where}): second derivatives are one-sided here, not "
                        "graded"))
                elif name == "reference":
                    verdict = grading.Verdict(outcome.status or Status.OK, 0.0, 0.0,
                                              outcome.message)
                elif outcome.status is not None:  # no values: nothing to hold to a floor
                    verdict = grading.grade(name, outcome, reference, names, tolerance)
                else:
                    if floors is None:
                        floors = finder.hessian_at(x) if phase == "hessian" else \
                            finder.second_at(x, [v])
                    own = second.engines[name].second_floors(floors, first, x, tolerance,
                                                             phase, v)
                    verdict = grading.grade(name, outcome, reference, names, tolerance, own,
                                            VALUES[phase])
                    if phase == "hessian" and outcome.grad is not None:
                        verdict = _asymmetry(verdict, outcome.grad, n, components, tolerance,
                                             own)
                result.add_agreement(index, name, verdict, outcome.loss, tolerance,
                                     declared.get(name), reference.digits, "", None,
                                     derivative=phase)
                if outcome.grad is not None:
                    ref = reference.grad if reference.grad is not None else \
                        np.full(len(names), np.nan)
                    cols = components if phase == "hessian" else ["v"]
                    result.add_hessian(index, name, components, cols, outcome.grad, ref)
                if index == 0 and outcome.status is None and not skip:
                    produced[name].append(phase)
    for phase in PHASES:
        for name, status in problem.case.expect.get(f"{phase}_status", {}).items():
            seen = sorted({row["status"] for row in result.agreement if row["engine"] == name
                           and row["derivative"] == phase})
            if seen:  # an engine not asked for has no row: nothing to hold it against
                result.add_expectation(f"{phase}_status", name, status, ", ".join(seen),
                                       seen == [status])
    return produced


def _asymmetry(verdict: grading.Verdict, hessian: np.ndarray, n: int, components: list[str],
               tolerance: float, floors: grading.Floors) -> grading.Verdict:
    """The verdict, with a note when the engine's Hessian is asymmetric beyond its tolerance
    (the exact one is symmetric: one of the pair is wrong, and the grade already says which
    differs from the reference)."""
    matrix = np.asarray(hessian, dtype=np.float64).reshape(n, n)
    floor = floors.for_grad(n * n).reshape(n, n)
    errors = grading.rho(matrix, matrix.T, np.maximum(floor, floor.T))
    if not np.all(np.isfinite(errors)) or float(np.max(errors, initial=0.0)) <= tolerance:
        return verdict
    i, j = np.unravel_index(int(np.nanargmax(errors)), errors.shape)
    note = (f"asymmetric beyond rounding: H[{components[i]}, {components[j]}] = "
            f"{matrix[i, j]:.12g} but H[{components[j]}, {components[i]}] = {matrix[j, i]:.12g}")
    return replace(verdict, message=f"{verdict.message}; {note}" if verdict.message else note)


def time_second(result: CaseResult, name: str, prepared: Prepared, phases: list[str],
                x: np.ndarray, measure: Callable[..., Any], device: str = "cpu") -> None:
    """Time ``phases`` of one engine (on ``device``) at ``x`` (the product along
    :func:`tangent`)."""
    inputs = prepared.inputs(x)
    direction = prepared.inputs(tangent(x.size))
    for phase in phases:
        call = prepared.phases[phase].call
        args = (inputs,) if phase == "hessian" else (inputs, direction)
        try:
            result.add_timing(name, phase, measure(call, *args), device)
        except Exception:  # graded already; a phase that fails when timed gets no row
            continue


__all__ = ["TANGENT_SEED", "grade_second", "hessian_names", "product_names", "tangent",
           "time_second"]
