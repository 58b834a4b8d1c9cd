"""diffcmp from Python: :func:`compare` one loss, :func:`run_cases` in this process,
:func:`run_suite` over case files, each case isolated in a worker process, and :func:`sweep`
of one case over the sizes of its ``[sweep]``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import sympy as sp

from .cases import Case, discover
from .errors import CaseError, DiffcmpError
from .registry import default_engine_names
from .report.folder import check_out
from .report.sweep import write_sweep_report
from .result import Result
from .results.environment import usage
from .results.sweep import SweepResult
from .run.evaluate import evaluate
from .run.isolation import DEFAULT_TIMEOUT_S, Interrupted, default_memory_limit
from .run.options import MAX_HESSIAN_N, Options
from .run.pool import default_jobs, run_pool
from .run.progress import Finished, Progress, as_progress
from .run.sweep import OnSize, sweep_case, sweep_case_of, sweep_file, sweep_sizes
from .run.timing import MIN_TIME_S

__all__ = ["Options", "compare", "run_cases", "run_suite", "sweep"]


def run_cases(cases: Iterable[Case], options: Options | None = None,
              progress: Progress | Callable[[str], None] | None = None) -> Result:
    """Evaluate each case in turn, in this process, and gather one :class:`Result`.

    No time or memory limit applies here (see :func:`run_suite`). ``progress`` hears each case
    start and end (see :mod:`diffcmp.run.progress`). Raises
    :class:`~diffcmp.run.isolation.Interrupted` on Ctrl-C, with the cases that finished.
    """
    start, since = time.perf_counter(), usage()
    listener = as_progress(progress)
    results = []
    try:
        for case in cases:
            listener.started(case.name)
            began = time.perf_counter()
            results.append(evaluate(case, options))
            listener.finished(Finished.of(results[-1], time.perf_counter() - began))
    except KeyboardInterrupt:
        raise Interrupted(results) from None
    return Result.from_cases(results, options or Options(), time.perf_counter() - start, since)


def run_suite(paths: Sequence[str | Path], options: Options | None = None,
              progress: Progress | Callable[[str], None] | None = None, *,
              timeout: float = DEFAULT_TIMEOUT_S,
              memory_limit: int | Literal["default"] | None = "default",
              jobs: int | None = None) -> Result:
    """Load every case under ``paths`` (files or folders) and run them, each in a worker process.

    Each case (loading a Python case file included) runs in a worker process (see
    :mod:`diffcmp.run.isolation`): one that takes longer than ``timeout`` seconds is
    stopped and reported as ``timeout``, one that crashes its process as ``error``, and the run
    goes on. ``progress`` hears each case start and end (see :mod:`diffcmp.run.progress`).
    ``memory_limit`` caps the memory a case may take in bytes, beyond what the worker
    holds once its libraries are loaded (``"default"``: half the machine's memory, at least
    2 GiB; ``None``: no limit). A file that cannot be loaded becomes
    an entry of ``Result.errors``; the others still run. Raises
    :class:`~diffcmp.run.isolation.Interrupted` on Ctrl-C, with the cases that finished.
    ``jobs`` workers run at once (default: one when timing, else one per core; see
    :mod:`diffcmp.run.pool`); the results keep the files' order.
    """
    if not timeout > 0:
        raise DiffcmpError(f"the timeout must be a positive number of seconds, not {timeout}")
    start, since = time.perf_counter(), usage()
    options = options or Options()
    files = discover(paths)
    limit = default_memory_limit() if memory_limit == "default" else memory_limit
    jobs = default_jobs(options) if jobs is None else jobs
    results = run_pool(files, options, timeout, limit, progress, jobs)
    return Result.from_cases(results, options, time.perf_counter() - start, since)


def compare(loss: sp.Expr | str, params: Mapping[str, Any], data: Mapping[str, Any] | None = None,
            *, name: str = "loss", engines: Sequence[str] | None = None, timing: bool = True,
            min_time: float = MIN_TIME_S, allow_undefined: bool = False, order: int = 1,
            max_hessian_n: int = MAX_HESSIAN_N, **case_options: Any) -> Result:
    """Compare every engine on one loss, given as a SymPy expression or a language string.

    ``params`` are differentiated (their values are the point), ``data`` are fixed. Further
    keyword arguments (``expect``, ``tolerance``, ``sample``...) are those of
    :class:`~diffcmp.cases.Case`. ``allow_undefined`` lets an ``undefined`` point pass (it fails
    the result otherwise, unless ``expect={"status": {"reference": "undefined"}}`` declares it).
    ``order=2`` grades every engine's Hessian and Hessian-vector product too (the full Hessian
    up to ``max_hessian_n`` parameters). Raises :class:`~diffcmp.errors.CaseError` when the
    loss cannot be built (an unknown name, a shape mismatch, a non-scalar loss...).
    """
    case = Case(name=name, loss=loss, params=params, data=data or {}, **case_options)
    options = Options(engines=tuple(engines) if engines else default_engine_names(), timing=timing,
                      min_time=min_time, allow_undefined=allow_undefined, order=order,
                      max_hessian_n=max_hessian_n)
    result = run_cases([case], options)
    if not result.errors.empty:
        raise CaseError(result.errors["message"].iloc[0])
    return result


def sweep(case: Case | str | Path, sizes: Sequence[int] | None = None,
          options: Options | None = None, *, timeout: float = DEFAULT_TIMEOUT_S,
          memory_limit: int | Literal["default"] | None = "default",
          out: str | Path | None = None, force: bool = False,
          on_size: OnSize | None = None) -> SweepResult:
    """Run one case with a ``[sweep]`` table at each of ``sizes`` (default: its own), every
    engine at every size, and gather time against size and agreement at each size.

    ``case`` is a case file (each size then runs in a worker process, as in :func:`run_suite`:
    a size that runs past ``timeout`` seconds gets ``timeout`` rows and the sweep goes on) or a
    :class:`~diffcmp.cases.Case` (run in this process, no limits). With ``out`` the report
    folder (``sweep.md``, ``sweep.csv``, plots) is written there, whole, under ``diffcmp run``'s
    rules (``force`` replaces an earlier report). ``on_size`` is called after each size. Raises
    :class:`~diffcmp.errors.CaseError` for a case without ``[sweep]`` or a size beyond the
    limits, before anything runs.
    """
    if not timeout > 0:
        raise DiffcmpError(f"the timeout must be a positive number of seconds, not {timeout}")
    options = options or Options()
    loaded = case if isinstance(case, Case) else sweep_case_of(case)
    chosen = sweep_sizes(loaded, sizes)
    if out is not None:
        check_out(out, force)  # fail now, not after a long sweep
    start = time.perf_counter()
    if isinstance(case, Case):
        runs = sweep_case(case, chosen, options, on_size)
    else:
        limit = default_memory_limit() if memory_limit == "default" else memory_limit
        runs = sweep_file(case, chosen, options, timeout=timeout, memory_limit=limit,
                          on_size=on_size, name=loaded.sweep.size if loaded.sweep else "size")
    result = SweepResult.from_runs(loaded, runs, options, time.perf_counter() - start,
                                   None if isinstance(case, Case) else timeout)
    if out is not None:
        write_sweep_report(result, out, force)
    return result
