"""Sweeps: one case run at each size of its ``[sweep]``, every engine at every size.

From a file (:func:`sweep_file`), each size runs like a case of ``diffcmp run``: in the worker
process of :mod:`~diffcmp.run.isolation`, loaded there and made at that size
(:meth:`~diffcmp.cases.model.Case.at_size`), under the time and memory limits, so a size that
runs past ``timeout`` becomes ``timeout`` rows and the sweep goes on with the next size; the
worker (and the libraries it imported) is kept from one size to the next. A
:class:`~diffcmp.cases.Case` object runs in this process (:func:`sweep_case`), with no limits,
like :func:`diffcmp.run_cases`.

Each engine decides on its own what it can do at a size: the scalar ``sympy`` engine is
``skipped`` (with its estimate) above the size where it would take too long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from ..cases import Case, load_cases
from ..cases.sweep import check_sizes
from ..errors import CaseError
from .crashes import Crashes
from .evaluate import evaluate
from .isolation import DEFAULT_TIMEOUT_S, Interrupted, Worker, ready_worker, run_file
from .options import Options
from .progress import Progress
from .rows import CaseResult


class Runner:
    """Runs case files one after another in one worker process (:mod:`~diffcmp.run.isolation`),
    started by :meth:`start` or on first use and replaced only when a case fails it; closed with
    the block."""

    def __init__(self, options: Options, timeout: float = DEFAULT_TIMEOUT_S,
                 memory_limit: int | None = None) -> None:
        self.options, self.timeout, self.memory_limit = options, timeout, memory_limit
        self.worker: Worker | None = None
        self.crashes = Crashes()

    def start(self) -> Worker:
        """The worker, started now if need be (it imports the engines' libraries)."""
        self.worker = ready_worker(self.worker, self.options, self.memory_limit, self.crashes)
        return self.worker

    def run(self, path: Path, size: int | None = None) -> list[CaseResult]:
        """One :class:`CaseResult` per case of ``path``, made at ``size`` when given."""
        results: list[CaseResult] = []
        skip: int | None = 0
        while skip is not None:
            skip, failed = run_file(self.start(), path, skip, self.options, self.timeout,
                                    Progress(), results, size, self.crashes)
            if failed:
                self.close()
        return results

    def close(self) -> None:
        """Stop the worker (idle between cases: nothing to lose by killing it)."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class SizeRun:
    """One size of a sweep: the case's rows there and the wall time it took."""

    size: int
    result: CaseResult
    wall_s: float
    #: The size's name in the case (``[sweep] size``).
    name: str = "size"


#: Called after each size with its :class:`SizeRun` (the command line prints a line).
OnSize = Callable[[SizeRun], None]


def sweep_case_of(path: str | Path) -> Case:
    """The one case of the file ``path``, which must have a ``[sweep]`` table. Raises
    :class:`CaseError`."""
    cases = load_cases(path)
    if len(cases) != 1:
        raise CaseError(f"holds {len(cases)} cases; a sweep runs one", str(path))
    case = cases[0]
    if case.sweep is None:
        raise CaseError("has no [sweep] table (size, sizes, run): nothing to sweep",
                        case.where)
    return case


def sweep_sizes(case: Case, sizes: Sequence[int] | None = None) -> tuple[int, ...]:
    """``sizes`` (default: the case's ``[sweep] sizes``), sorted, each one checked by making the
    case there (the limits and the loss's shapes), so that a bad size fails before anything
    runs. Raises :class:`CaseError`."""
    if case.sweep is None:
        raise CaseError("has no [sweep] table (size, sizes, run): nothing to sweep", case.where)
    chosen = case.sweep.sizes if sizes is None else check_sizes(list(sizes), "sizes")
    for size in chosen:
        case.at_size(size)
    return chosen


def sweep_file(path: str | Path, sizes: Sequence[int], options: Options, *,
               timeout: float = DEFAULT_TIMEOUT_S, memory_limit: int | None = None,
               on_size: OnSize | None = None, name: str = "size") -> list[SizeRun]:
    """Run the case of ``path`` at each of ``sizes``, each size in the worker process (see the
    module docstring); ``name`` is the size's name. Raises :class:`Interrupted` on Ctrl-C,
    naming the sizes that finished."""
    runs: list[SizeRun] = []
    try:
        with Runner(options, timeout, memory_limit) as runner:
            runner.start()  # importing the engines' libraries is no size's wall time
            for size in sizes:
                start = time.perf_counter()
                results = runner.run(Path(path), size=size)
                _finish(runs, SizeRun(size, results[0], time.perf_counter() - start, name),
                        on_size)
    except KeyboardInterrupt:
        raise Interrupted(_finished(runs)) from None
    return runs


def sweep_case(case: Case, sizes: Sequence[int], options: Options,
               on_size: OnSize | None = None) -> list[SizeRun]:
    """Run ``case`` at each of ``sizes`` in this process (no time or memory limit)."""
    runs: list[SizeRun] = []
    try:
        for size in sizes:
            start = time.perf_counter()
            try:
                result = evaluate(case.at_size(size), options)
            except CaseError as exc:
                result = CaseResult(case.name, source=case.source or "", load_error=str(exc))
            _finish(runs, SizeRun(size, result, time.perf_counter() - start,
                                  case.sweep.size if case.sweep else "size"), on_size)
    except KeyboardInterrupt:
        raise Interrupted(_finished(runs)) from None
    return runs


def _finish(runs: list[SizeRun], run: SizeRun, on_size: OnSize | None) -> None:
    runs.append(run)
    if on_size:
        on_size(run)


def _finished(runs: list[SizeRun]) -> list[SimpleNamespace]:
    """What :class:`Interrupted` lists: each size that finished, by name."""
    return [SimpleNamespace(case=f"{run.result.case} at {run.name} = {run.size:,}")
            for run in runs]


__all__ = ["OnSize", "Runner", "SizeRun", "sweep_case", "sweep_case_of", "sweep_file",
           "sweep_sizes"]
