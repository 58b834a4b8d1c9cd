"""Running engines on cases: :func:`compare` for one loss, :func:`run_suite` for many.

For each case: lower it, prepare every engine (a failure becomes a row, never a crash), evaluate
each at every point, grade against the reference, check ``[expect]``, then time each engine at the
case's own point.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import sympy as sp

from . import grading
from .case import Case, discover
from .engines import ENGINE_NAMES, Engine, Prepared, engine_class, get_engine
from .errors import CaseError, DiffcmpError, UndefinedError, UnsupportedError
from .isolation import DEFAULT_TIMEOUT_S, Interrupted, default_memory_limit, run_files
from .kinks import KinkDetector
from .problem import Problem, lower
from .results import CaseResult, Result
from .timing import MIN_TIME_S, Measurement, measure


@dataclass(frozen=True)
class Options:
    """How to run: which engines, whether and how long to time, PyTorch threads."""

    engines: tuple[str, ...] = ENGINE_NAMES
    timing: bool = True
    min_time: float = MIN_TIME_S
    threads: int = 1
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in self.engines:
            engine_class(name)  # raises for an unknown engine
        if "reference" not in self.engines:
            object.__setattr__(self, "engines", ("reference", *self.engines))


def tolerance_for(case: Case, engine: str) -> float:
    """The tolerance graded for ``engine`` on ``case``: the case's override or the default."""
    return case.tolerance.get(engine, engine_class(engine).tolerance)


def _outcome(prepared: Prepared, x: np.ndarray) -> grading.Outcome:
    try:
        loss, grad = prepared.value_and_grad(x)
    except UndefinedError as exc:
        return grading.Outcome(loss=exc.loss, status="undefined", message=str(exc))
    except UnsupportedError as exc:
        return grading.Outcome(status="unsupported", message=str(exc))
    except Exception as exc:  # an engine failing is a result, not a crash
        return grading.Outcome(status="error", message=f"{type(exc).__name__}: {exc}")
    return grading.Outcome(loss=loss, grad=grad)


def _prepare(engine: Engine, problem: Problem) -> Prepared | grading.Outcome:
    try:
        return engine.prepare(problem)
    except UndefinedError as exc:
        return grading.Outcome(status="undefined", message=str(exc))
    except UnsupportedError as exc:
        return grading.Outcome(status="unsupported", message=str(exc))
    except Exception as exc:  # an engine failing is a result, not a crash
        return grading.Outcome(status="error", message=f"{type(exc).__name__}: {exc}")


def evaluate(case: Case, options: Options | None = None) -> CaseResult:
    """Run every engine of ``options`` on ``case``: agreement, gradients, expect, timing."""
    options = options or Options()
    engines = {name: get_engine(name, threads=options.threads) for name in options.engines}
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
    prepared = {name: _prepare(engine, problem) for name, engine in engines.items()}
    outcomes = {name: [p if isinstance(p, grading.Outcome) else _outcome(p, x) for x in points]
                for name, p in prepared.items()}
    declared = case.expect.get("status", {})
    detector = KinkDetector(problem.loss, problem.param_symbols, problem.data_symbols,
                            [v for values in problem.data_values.values() for v in values.ravel()])
    for index, x in enumerate(points):
        reference = outcomes["reference"][index]
        kink, left, right = detector.check(x)
        if kink:
            result.add_one_sided(index, problem.components, left, right)
        for name in options.engines:
            outcome = outcomes[name][index]
            tolerance = tolerance_for(case, name)
            if kink and (outcome.status is None or outcome.status == "undefined"):
                verdict = grading.kink_verdict(name, outcome, kink, problem.components, left,
                                               right)
            elif name == "reference":
                verdict = grading.Verdict(outcome.status or "ok", 0.0, 0.0, outcome.message)
            else:
                verdict = grading.grade(name, outcome, reference, problem.components, tolerance)
            result.add_agreement(index, name, verdict, outcome.loss, tolerance,
                                 declared.get(name))
            if outcome.grad is not None:
                ref = reference.grad if reference.grad is not None else \
                    np.full(len(problem.components), np.nan)
                result.add_gradients(index, name, problem.components, outcome.grad, ref)
    _check_expect(case, problem, outcomes["reference"][0], result)
    for name in declared:
        if name not in options.engines:
            result.add_expectation("status", name, declared[name], "not run", False)
        else:
            seen = sorted({row["status"] for row in result.agreement if row["engine"] == name})
            result.add_expectation("status", name, declared[name], ", ".join(seen),
                                   seen == [declared[name]])
    if "reference" in prepared and isinstance(prepared["reference"], Prepared):
        gradient = problem.gradient
        result.expressions = {**gradient.sizes(), "derive_s": gradient.derive_s,
                              "method": gradient.method}
    if options.timing:
        for name, p in prepared.items():
            if isinstance(p, Prepared) and outcomes[name][0].status is None:
                _time(result, name, p, problem.point, options.min_time)
    return result


def _check_expect(case: Case, problem: Problem, reference: grading.Outcome,
                  result: CaseResult) -> None:
    expect = case.expect
    tolerance = expect.get("tolerance", grading.EXPECT_TOLERANCE)
    if "loss" in expect:
        actual = reference.loss
        result.add_expectation("loss", "loss", expect["loss"], actual,
                               grading.check_expect(expect["loss"], actual, tolerance))
    for name, values in expect.get("grad", {}).items():
        offset = problem.offsets[name]
        for k, value in enumerate(values.ravel()):
            component = problem.components[offset + k]
            actual = float(reference.grad[offset + k]) if reference.grad is not None \
                else float("nan")
            result.add_expectation("grad", component, float(value), actual,
                                   grading.check_expect(float(value), actual, tolerance))


def _time(result: CaseResult, name: str, prepared: Prepared, x: np.ndarray,
          min_time: float) -> None:
    for step, seconds in prepared.prepare_s.items():
        result.add_timing(name, f"prepare: {step}", Measurement(seconds, 0.0, 1, seconds))
    inputs = prepared.inputs(x)
    for phase, function in (("loss", prepared.loss), ("grad", prepared.grad)):
        try:
            # partial, not a lambda: no Python frame of ours inside the measured call
            measurement = measure(functools.partial(function, inputs), min_time)
        except Exception:  # graded already; a phase that fails when timed gets no row
            continue
        result.add_timing(name, phase, measurement)


def run_cases(cases: Iterable[Case], options: Options | None = None,
              progress: Callable[[str], None] | None = None) -> Result:
    """Evaluate each case in turn, in this process, and gather one :class:`Result`.

    No time or memory limit applies here (see :func:`run_suite`). Raises
    :class:`~diffcmp.isolation.Interrupted` on Ctrl-C, with the cases that finished.
    """
    start = time.perf_counter()
    results = []
    try:
        for case in cases:
            if progress:
                progress(case.name)
            results.append(evaluate(case, options))
    except KeyboardInterrupt:
        raise Interrupted(results) from None
    return Result.from_cases(results, options or Options(), time.perf_counter() - start)


def run_suite(paths: Sequence[str | Path], options: Options | None = None,
              progress: Callable[[str], None] | None = None, *,
              timeout: float = DEFAULT_TIMEOUT_S,
              memory_limit: int | Literal["default"] | None = "default") -> Result:
    """Load every case under ``paths`` (files or folders) and run them, each in a worker process.

    Each case (loading a Python case file included) runs in a worker process (see
    :mod:`diffcmp.isolation`), one at a time: one that takes longer than ``timeout`` seconds is
    stopped and reported as ``timeout``, one that crashes its process as ``error``, and the run
    goes on. ``memory_limit`` caps the worker's memory in bytes (``"default"``: half the
    machine's memory, at least 2 GiB; ``None``: no limit). A file that cannot be loaded becomes
    an entry of ``Result.errors``; the others still run. Raises
    :class:`~diffcmp.isolation.Interrupted` on Ctrl-C, with the cases that finished.
    """
    if not timeout > 0:
        raise DiffcmpError(f"the timeout must be a positive number of seconds, not {timeout}")
    start = time.perf_counter()
    options = options or Options()
    files = discover(paths)
    limit = default_memory_limit() if memory_limit == "default" else memory_limit
    results = run_files(files, options, timeout=timeout, memory_limit=limit, progress=progress)
    return Result.from_cases(results, options, time.perf_counter() - start)


def compare(loss: sp.Expr | str, params: Mapping[str, Any], data: Mapping[str, Any] | None = None,
            *, name: str = "loss", engines: Sequence[str] | None = None, timing: bool = True,
            min_time: float = MIN_TIME_S, **case_options: Any) -> Result:
    """Compare every engine on one loss, given as a SymPy expression or a language string.

    ``params`` are differentiated (their values are the point), ``data`` are fixed. Further
    keyword arguments (``expect``, ``tolerance``, ``sample``...) are those of
    :class:`~diffcmp.case.Case`. Raises :class:`~diffcmp.errors.CaseError` when the loss cannot
    be built (an unknown name, a shape mismatch, a non-scalar loss...).
    """
    case = Case(name=name, loss=loss, params=params, data=data or {}, **case_options)
    options = Options(engines=tuple(engines) if engines else ENGINE_NAMES, timing=timing,
                      min_time=min_time)
    result = run_cases([case], options)
    if not result.errors.empty:
        raise CaseError(result.errors["message"].iloc[0])
    return result
