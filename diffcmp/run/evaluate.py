"""Evaluating one case: lower it, prepare every engine (a failure becomes a row, never a crash),
evaluate each at every point, grade against the reference, check ``[expect]``, then time each
engine at the case's own point."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any

import numpy as np

from ..cases import Case
from ..engines.base import Engine, Prepared
from ..errors import (
    DiffcmpError,
    SkippedError,
    UndefinedError,
    UnresolvedError,
    UnsupportedError,
)
from ..grading import grade as grading
from ..grading import limited
from ..grading.crosscheck import CrossCheck
from ..grading.declared import own_declaration
from ..grading.diagnose import Diagnosis
from ..grading.exact import Exact
from ..grading.floors import FloorFinder
from ..grading.kinks import KinkDetector, Sides
from ..matcalc.hessian_form import hessian_formula
from ..matcalc.printer import formulas
from ..precision import DEFAULT_DEVICE, DEFAULT_DTYPE, split_variant
from ..registry import get_engine
from ..status import Status
from ..symbolic.problem import Problem, lower
from .options import Options, tolerance_for
from .rows import NOT_RUN, CaseResult
from .second import Second, grade_second, hessian_names, time_second
from .timing import Measurement, measure
from .watch import engine_call


def _attempt(call: Callable[[], Any]) -> Any:
    """``call()``, or the :class:`~diffcmp.grading.grade.Outcome` that says why it failed: an
    engine failing is a result, not a crash."""
    try:
        return call()
    except UndefinedError as exc:
        return grading.Outcome(loss=exc.loss, status=Status.UNDEFINED, message=str(exc))
    except UnsupportedError as exc:
        return grading.Outcome(status=Status.UNSUPPORTED, message=str(exc))
    except SkippedError as exc:
        return grading.Outcome(status=Status.SKIPPED, message=str(exc))
    except UnresolvedError as exc:
        return grading.Outcome(status=Status.UNRESOLVED, message=str(exc))
    except Exception as exc:
        return grading.Outcome(status=Status.ERROR, message=f"{type(exc).__name__}: {exc}")


def _outcome(prepared: Prepared, x: np.ndarray) -> grading.Outcome:
    prepared.details.clear()
    result = _attempt(lambda: prepared.value_and_grad(x))
    digits = prepared.details.get("digits")
    if isinstance(result, grading.Outcome):
        return result if digits is None else dataclasses.replace(result, digits=digits)
    loss, grad = result
    overflow = prepared.details.get("overflow", "")
    return grading.Outcome(loss=loss, grad=grad, digits=digits, overflow=overflow,
                           message=overflow, exact=_exact(prepared, len(grad)),
                           precision=prepared.details.get("precision"))


def _exact(prepared: Prepared, n: int) -> Exact | None:
    """The reference's certified values as decimal text, with their bounds (``None`` for an
    engine that certifies nothing, or a certificate that is not the loss and ``n`` components)."""
    certified = prepared.details.get("certified")
    if certified is None or len(certified.values) != 1 + n:
        return None
    return Exact.of(certified.values, certified.bounds)


def _prepare(name: str, engine: Engine, problem: Problem) -> Prepared | grading.Outcome:
    with engine_call(name):
        return _attempt(lambda: engine.prepare(problem))


def _outcomes(name: str, prepared: Prepared | grading.Outcome,
              points: list[np.ndarray]) -> list[grading.Outcome]:
    """One engine's outcome at each point (its failure to prepare at every one)."""
    if isinstance(prepared, grading.Outcome):
        return [prepared for _ in points]
    with engine_call(name):
        return [_outcome(prepared, x) for x in points]


def evaluate(case: Case, options: Options | None = None,
             extra_engines: Mapping[str, Engine] | None = None) -> CaseResult:
    """Run every engine of ``options`` on ``case``: agreement, gradients, expect, timing.

    ``extra_engines`` are engine instances that are not registered (the user's own code, see
    :func:`diffcmp.check`), run and graded after the others under their own names; their
    tolerance comes from ``options.tolerance``.
    """
    options = options or Options()
    engines = {name: get_engine(name, threads=options.threads, device=options.device)
               for name in options.engines}
    engines.update(extra_engines or {})
    with ExitStack() as stack:
        for engine in engines.values():
            stack.enter_context(engine.running())
        return _evaluate(case, options, engines)


def _evaluate(case: Case, options: Options, engines: dict[str, Engine]) -> CaseResult:
    result = CaseResult(case.name, source=case.source or "")
    try:
        problem = lower(case)
    except DiffcmpError as exc:
        result.load_error = str(exc)
        return result
    points = problem.points()
    prepared = {name: _prepare(name, engine, problem) for name, engine in engines.items()}
    outcomes = {name: _outcomes(name, p, points) for name, p in prepared.items()}
    declared = case.expect.get("status", {})
    detector, diagnosis, crosscheck = _graders(problem)
    finder = FloorFinder(problem)
    first_floors: grading.Floors | None = None
    every_sides: list[Sides] = []
    every_floors: list[grading.Floors] = []
    for index, x in enumerate(points):
        floors = finder.at(x)
        first_floors = first_floors or floors
        # an engine in another dtype: floors with its inputs' rounding (issue 21)
        by_dtype = {DEFAULT_DTYPE: floors}
        cause_here: str | None = None  # diagnosed once per point, on the first nan
        sides = detector.sides(x) if detector else Sides.none()
        every_sides.append(sides)
        every_floors.append(floors)
        kink, left, right = sides.kink, sides.left, sides.right
        if kink:
            result.add_one_sided(index, problem.components, left, right)
        reference = outcomes["reference"][index] = _settle(
            outcomes["reference"][index], x, kink, left, right, crosscheck, problem.components)
        for name in engines:
            outcome = outcomes[name][index]
            tolerance = tolerance_for(case, name, options)
            dtype = getattr(engines[name], "dtype", DEFAULT_DTYPE)
            if dtype not in by_dtype:
                by_dtype[dtype] = finder.at(x, dtype)
            own = engines[name].floors(by_dtype[dtype], x, tolerance)
            if kink and (outcome.status is None or outcome.status == Status.UNDEFINED):
                # per component: the untouched ones graded as usual, the touched ones against
                # the interval between their one-sided derivatives
                verdict = grading.kink_verdict(
                    name, outcome, kink, problem.components, left, right, reference=reference,
                    tolerance=tolerance, floors=own, spread=sides.spread,
                    pairs=sides.pairs if engines[name].subgradient else ())
            elif name == "reference":
                verdict = grading.Verdict(outcome.status or Status.OK, 0.0, 0.0, outcome.message)
            else:
                verdict = grading.grade(name, outcome, reference, problem.components, tolerance,
                                        own)
            verdict = limited.note(verdict, dtype, tolerance)
            cause = ""
            if verdict.status == Status.NAN:
                if cause_here is None:
                    cause_here = diagnosis.cause(x) if diagnosis else ""
                cause = cause_here
            result.add_agreement(index, name, verdict, outcome.loss, tolerance,
                                 own_declaration(declared, name), reference.digits, cause,
                                 outcome.exact if name == "reference" else None)
            if outcome.grad is not None:
                ref = reference.grad if reference.grad is not None else \
                    np.full(len(problem.components), np.nan)
                result.add_gradients(index, name, problem.components, outcome.grad, ref,
                                     reference.exact if reference.grad is not None else None)
    _check_expect(case, problem, outcomes["reference"][0], result,
                  first_floors or grading.Floors())
    for name in declared:
        if name not in engines and split_variant(name)[1] not in options.dtypes:
            continue  # a dtype this run does not ask for (issue 21): not a column of it
        if name not in engines:  # not asked for: nothing to hold it against (and said so)
            result.add_expectation("status", name, declared[name], NOT_RUN, True)
        else:
            seen = sorted({row["status"] for row in result.agreement if row["engine"] == name
                           and row["derivative"] == "gradient"})
            result.add_expectation("status", name, declared[name], ", ".join(seen),
                                   seen == [declared[name]])
    second: dict[str, list[str]] = {}
    if max(options.order, case.order) >= 2:
        second = grade_second(Second(problem, engines, prepared, options), result, points,
                              every_sides, [o.loss for o in outcomes["reference"]], finder,
                              every_floors, _attempt)
        _check_expect_hessian(case, problem, result)
    result.expressions = _expressions(problem, prepared, bool(second))
    if options.timing:
        for name, p in prepared.items():
            if not isinstance(p, Prepared):
                continue
            device = getattr(engines[name], "device", DEFAULT_DEVICE)
            with engine_call(name):
                if outcomes[name][0].status is None:
                    _time(result, name, p, problem.point, options.min_time, device)
                if second.get(name):
                    time_second(result, name, p, second[name], problem.point,
                                lambda call, *args: measure(functools.partial(call, *args),
                                                            options.min_time), device)
    return result


def _check_expect_hessian(case: Case, problem: Problem, result: CaseResult) -> None:
    """Check ``[expect] hessian`` against the reference's Hessian at the case's point."""
    expected = case.expect.get("hessian")
    if expected is None:
        return
    tolerance = case.expect.get("tolerance", grading.EXPECT_TOLERANCE)
    names = hessian_names(problem.components)
    found = {(row["row"], row["col"]): row["value"] for row in result.hessians
             if row["engine"] == "reference" and row["point"] == 0 and row["col"] != "v"}
    for k, (value, name) in enumerate(zip(expected.ravel(), names, strict=True)):
        i, j = divmod(k, len(problem.components))
        actual = found.get((problem.components[i], problem.components[j]), float("nan"))
        result.add_expectation("hessian", name, float(value), actual,
                               grading.check_expect(float(value), actual, tolerance, 1.0))

def _graders(problem: Problem) -> tuple[KinkDetector | None, Diagnosis | None,
                                        CrossCheck | None]:
    """The kink detector, the NaN diagnosis and the independent derivation of ``problem``
    (``None`` where the loss's graph cannot be built: the reference says why)."""
    try:
        return KinkDetector(problem), Diagnosis(problem), CrossCheck(problem)
    except DiffcmpError:
        return None, None, None


def _settle(reference: grading.Outcome, x: np.ndarray, kink: str | None, left: np.ndarray,
            right: np.ndarray, crosscheck: CrossCheck | None,
            components: list[str]) -> grading.Outcome:
    """The reference at one point, after the independent derivation (at a smooth point) or the
    one-sided derivatives (where switches sit but both sides agree) have had their say."""
    if not kink and not left.size and reference.status is None and reference.digits \
            and not reference.overflow and crosscheck is not None:
        bug = crosscheck.disagreement(x, reference.grad, reference.precision or reference.digits,
                                      components, reference.loss, _resolution(reference))
        if bug:
            return grading.Outcome(loss=reference.loss, status=Status.ERROR, message=bug,
                                   digits=reference.digits)
    elif not kink and left.size and reference.status in (Status.UNDEFINED, Status.UNRESOLVED) \
            and np.isfinite(reference.loss) and np.all(np.isfinite(left)):
        # differentiable across its switches, though the exact gradient is not finite or did
        # not settle here: the agreeing one-sided derivatives are the derivative
        return grading.Outcome(
            loss=reference.loss, grad=(left + right) / 2, digits=reference.digits,
            message="the gradient formula does not settle here, but both one-sided "
                    "derivatives agree at every component: the reference takes them")
    return reference


def _resolution(reference: grading.Outcome) -> list[float] | None:
    """How far each of the reference's gradient components may be from the truth by its
    certificate: its bound where it has one, else ``10**-digits`` of it (every proven value has
    that many significant digits); ``None`` without a certificate."""
    if reference.exact is None or reference.grad is None or reference.digits is None:
        return None
    bounds = reference.bounds()[1:]
    relative = 10.0 ** -reference.digits
    return [float(b) if np.isfinite(b) else abs(float(g)) * relative
            for b, g in zip(bounds, reference.grad, strict=True)]


def _expressions(problem: Problem, prepared: dict[str, Any],
                 second: bool = False) -> dict[str, Any] | None:
    """Sizes of the symbolic gradients: the scalar SymPy one where the ``sympy`` engine derived
    it (its expression swell), and the vectorised one's formulas (with ``second``, the
    Hessian-vector product's too, ``hvp_formula``, and the Hessian's as a matrix formula where
    it has one, ``hessian_formula``: ``X.T @ diag(s) @ X``)."""
    row: dict[str, Any] = {}
    if isinstance(prepared.get("sympy"), Prepared):
        gradient = problem.gradient
        row.update(gradient.sizes(), derive_s=gradient.derive_s, method=gradient.method)
    if isinstance(prepared.get("matcalc") or prepared.get("reference"), Prepared):
        array = problem.array_gradient
        names = {f"dL/d{v.name}": d for v, d in zip(problem.params, array.grads, strict=True)}
        row.update(formula="; ".join(formulas(names)), array_derive_s=array.derive_s)
        if second:
            try:
                product = problem.array_hvp
            except DiffcmpError:
                return row
            products = {f"(Hv)_{v.name}": d
                        for v, d in zip(problem.params, product.products, strict=True)}
            row.update(hvp_formula="; ".join(formulas(products)),
                       hessian_formula=hessian_formula(product.products, product.tangents)
                       or "", hvp_derive_s=product.derive_s)
    return row or None


def _check_expect(case: Case, problem: Problem, reference: grading.Outcome,
                  result: CaseResult, floors: grading.Floors) -> None:
    """Check ``[expect]`` against the reference at the case's point, each value above its floor
    (a published value quoted to few digits sets ``expect.tolerance``)."""
    expect = case.expect
    tolerance = expect.get("tolerance", grading.EXPECT_TOLERANCE)
    grad_floors = floors.for_grad(len(problem.components))
    if "loss" in expect:
        actual = reference.loss
        result.add_expectation("loss", "loss", expect["loss"], actual,
                               grading.check_expect(expect["loss"], actual, tolerance,
                                                    floors.for_loss()))
    for name, values in expect.get("grad", {}).items():
        offset = problem.offsets[name]
        for k, value in enumerate(values.ravel()):
            component = problem.components[offset + k]
            actual = float(reference.grad[offset + k]) if reference.grad is not None \
                else float("nan")
            result.add_expectation("grad", component, float(value), actual,
                                   grading.check_expect(float(value), actual, tolerance,
                                                        float(grad_floors[offset + k])))


def _time(result: CaseResult, name: str, prepared: Prepared, x: np.ndarray,
          min_time: float, device: str = DEFAULT_DEVICE) -> None:
    inputs = prepared.inputs(x)
    measured = []
    for phase, function in (("loss", prepared.loss), ("grad", prepared.grad)):
        try:
            # partial, not a lambda: no Python frame of ours inside the measured call
            measured.append((phase, measure(functools.partial(function, inputs), min_time)))
        except Exception:  # graded already; a phase that fails when timed gets no row
            continue
    # read after measuring: an engine may prepare a phase on its first (warm-up) call
    for step, seconds in prepared.prepare_s.items():
        result.add_timing(name, f"prepare: {step}", Measurement(seconds, 0.0, 1, seconds),
                          device)
    for phase, measurement in measured:
        result.add_timing(name, phase, measurement, device)
