"""Isolation: every case runs in a worker process, under a time limit and a memory limit.

:func:`run_files` hands the case files to one long-lived worker process (a fresh interpreter
running :func:`main`: no fork, which JAX dislikes, and no re-import of the caller's
``__main__``), one case at a time, so that timings never overlap. The worker loads each file
(running a Python case file's code there, not here), evaluates its cases and sends back each
:class:`~diffcmp.results.CaseResult` over a socket (:mod:`diffcmp.run.pool` runs several such
workers at once where nothing is timed). The worker is replaced only when a case
fails it:

* a case that runs longer than ``timeout`` seconds (loading, deriving, compiling, timing: all of
  it) is cut off (the worker's whole process group is killed) and gets a ``timeout`` row for
  every engine;
* a case that kills its process (a segfault, an abort, ``os._exit``) inside one engine (the
  worker announces each call into an engine, :mod:`~diffcmp.run.watch`) runs again in a fresh
  worker without that engine, which gets an ``error`` row naming the signal or exit code (an
  engine that does so twice is left out of the rest of the run: :mod:`~diffcmp.run.crashes`);
  one that dies outside any engine gets an ``error`` row for every engine;
* memory is limited with ``RLIMIT_DATA``: a case may map ``memory_limit`` bytes beyond what the
  worker holds once it has started (diffcmp and the engines' libraries imported, their thread
  pools created), so that a small limit never stops a worker from starting, however many cores
  the machine has. An allocation beyond it raises ``MemoryError``, which becomes an ``error``
  row, or kills the worker, which is the case above. ``RLIMIT_DATA`` counts memory mapped for
  writing (thread stacks and BLAS buffers included), not the address space that PyTorch and XLA
  reserve but never touch (``RLIMIT_AS`` at 4 GiB already breaks JAX).

Workers run with the BLAS and OpenMP thread pools capped at one thread (``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and kin, unless the user set them): OpenBLAS
otherwise maps a buffer of tens of MB per core at import, and a pool per core competes with the
single-threaded timings.

The other cases run on. Ctrl-C stops the worker and raises :class:`Interrupted`, which carries
the cases that finished.
"""

from __future__ import annotations

import ctypes
import dataclasses
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..cases import load_cases
from ..engines import devices
from ..errors import DiffcmpError
from ..grading.declared import own_declaration
from ..grading.grade import Verdict
from ..precision import DEFAULT_DTYPE, split_variant
from ..registry import engine_class, engine_info
from ..status import Status
from . import watch
from .crashes import Crashes
from .evaluate import evaluate
from .limits import (  # re-exported: callers name them here
    DEFAULT_TIMEOUT_S,
    MIN_MEMORY,
    default_memory_limit,
    limit_memory,
)
from .options import Options, tolerance_for
from .progress import Finished, Progress, as_progress
from .rows import NOT_RUN, CaseResult
from .worker import (  # re-exported: callers name them here
    STARTUP_TIMEOUT_S,
    THREAD_CAPS,
    EngineStartError,
    Worker,
    WorkerDiedError,
    worker_environment,
)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; ``results`` holds the cases that had finished, in order."""

    def __init__(self, results: list[Any]) -> None:
        super().__init__()
        self.results = results

    @property
    def completed(self) -> list[str]:
        """Names of the cases that finished (files that failed to load included)."""
        return [result.case for result in self.results]


def failed_result(name: str, source: str, engines: Iterable[str], status: str, message: str,
                  declared: Mapping[str, str] | None = None,
                  tolerances: Mapping[str, float] | None = None) -> CaseResult:
    """A :class:`CaseResult` in which every engine has the row ``status`` with ``message``.

    Used for a case that was cut off (``timeout``) or took its process down (``error``).
    ``declared`` (the case's ``[expect.status]``) keeps a declared timeout from failing the run.
    """
    declared = dict(declared or {})
    tolerances = dict(tolerances or {})
    result = CaseResult(name, source=source)
    nan = float("nan")
    engines = list(engines)
    for engine in engines:
        tolerance = tolerances.get(engine, engine_info(engine).tolerance)
        result.add_agreement(0, engine, Verdict(Status(status), nan, nan, message), nan,
                             tolerance, own_declaration(declared, engine))
    for engine, status_declared in declared.items():
        if engine not in engines and split_variant(engine)[1] != DEFAULT_DTYPE:
            continue  # a dtype the run does not ask for (issue 21)
        actual = status if engine in engines else NOT_RUN
        result.add_expectation("status", engine, status_declared, actual,
                               actual in (status_declared, NOT_RUN))
    return result


@dataclass
class _Current:
    """The case the worker announced last: what a timeout or crash row needs to know."""

    index: int
    last: int
    name: str
    source: str
    declared: dict[str, str]
    tolerances: dict[str, float]
    #: The engines the worker runs this case with.
    engines: tuple[str, ...] = ()
    #: The engine the worker is calling into now, if any.
    engine: str | None = None


def run_files(files: Iterable[Path], options: Options, timeout: float = DEFAULT_TIMEOUT_S,
              memory_limit: int | None = None,
              progress: Progress | Callable[[str], None] | None = None,
              worker: Worker | None = None) -> list[CaseResult]:
    """Run every case of ``files`` in a worker process; one :class:`CaseResult` per case.

    ``worker``: one already started with the same ``options`` and ``memory_limit`` (perhaps
    still starting), used first and stopped at the end.

    A file that cannot be loaded gives a result with ``load_error`` set. ``progress`` hears each
    case start and, if it is a :class:`~diffcmp.run.progress.Progress`, end (a plain callable:
    called with the name of each case that starts). Raises :class:`Interrupted` on Ctrl-C, with
    the results so far.
    """
    results: list[CaseResult] = []
    listener = as_progress(progress)
    crashes = Crashes()
    try:
        for path in files:
            skip = 0
            while skip is not None:
                worker = ready_worker(worker, options, memory_limit, crashes)
                skip, failed = run_file(worker, path, skip, options, timeout, listener, results,
                                        crashes=crashes)
                if failed:
                    worker.stop()
                    worker = None
    except KeyboardInterrupt:
        raise Interrupted(results) from None
    finally:
        if worker is not None:  # idle: nothing to lose by killing it
            worker.stop()
    return results


def ready_worker(worker: Worker | None, options: Options, memory_limit: int | None,
                 crashes: Crashes) -> Worker:
    """``worker`` once it has started, or a new one (without the engines ``crashes`` left out);
    an engine that kills a new worker as it starts is left out, and another is started."""
    while True:
        if worker is None:
            worker = Worker(crashes.without(options), memory_limit, wait=False)
        try:
            worker.wait_ready()
            return worker
        except EngineStartError as exc:
            crashes.failed_to_start(exc.engine, exc.what)
            worker = None


def run_file(worker: Worker, path: Path, skip: int, options: Options, timeout: float,
             progress: Progress, results: list[CaseResult],
             size: int | None = None, crashes: Crashes | None = None) -> tuple[int | None, bool]:
    """Run ``path``'s cases from index ``skip`` in ``worker`` (made at ``size``, their sweep's
    size, when given), appending to ``results``; return (where to resume or None, worker
    lost). With ``crashes``, a case that kills the worker inside an engine is to be resumed
    from (run again without that engine: :mod:`~diffcmp.run.crashes`)."""
    crashes = crashes or Crashes(limit=0)
    current: _Current | None = None
    since = time.monotonic()  # the file's loading, then each case's start

    def record(result: CaseResult) -> None:
        results.append(result)
        progress.finished(Finished.of(result, time.monotonic() - since))

    deadline = since + timeout
    try:
        first, every = crashes.excluded(path, skip) if crashes.limit else ((), ())
        worker.send(("file", str(path), skip, size, first, every))
        while True:
            message = worker.receive(deadline)
            if message is None:
                break
            kind = message[0]
            if kind == "engine":
                if current is not None:
                    current.engine = message[1]
            elif kind == "start":
                current = _Current(*message[1:])
                since = time.monotonic()
                deadline = since + timeout
                progress.started(current.name)
            elif kind == "result":
                if current is not None:
                    crashes.complete(message[1], path, current.index, options.engines,
                                     current.declared, current.tolerances)
                record(message[1])
                if current is not None:
                    skip = current.index + 1
                current = None
                deadline = time.monotonic() + timeout
            elif kind == "load_error":
                record(message[1])
                return None, False
            elif kind == "done":
                return None, False
        what, status = f"did not finish within {timeout:g} s and was stopped", "timeout"
    except WorkerDiedError:
        what, status = f"crashed its worker process ({worker.exit_text()})", "error"
        if crashes.limit and current is not None and current.engine not in (None, "reference"):
            crashes.crashed(current.engine, path, current.index, current.name, what)
            return current.index, True
    if current is None:  # the file itself hung or crashed while loading
        record(CaseResult(path.stem, source=str(path), load_error=f"{path}: loading {what}"))
        return None, True
    record(failed_result(current.name, current.source, options.engines, status,
                         f"the case {what}", current.declared, current.tolerances))
    return (current.index + 1 if current.index < current.last else None), True


# --- the worker side ---------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (best effort, Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _serve(connection: Connection, memory_limit: int) -> None:
    options = connection.recv()
    for name in options.engines:  # import PyTorch and JAX now, not during the first case
        connection.send(("starting", name))  # should it take the process down: which one
        engine_class(name).start()
    devices.start(getattr(options, "device", "cpu"), options.engines)  # a GPU's context too
    if memory_limit:  # on top of the libraries and their thread pools (module docstring)
        limit_memory(memory_limit)
    connection.send(("ready",))
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message[0] == "stop":
            return
        _, path, skip, size, first, every = message
        _serve_file(connection, Path(path), skip, options, size, first, every)


def _without(options: Options, engines: tuple[str, ...]) -> Options:
    if not engines:
        return options
    return dataclasses.replace(options, engines=tuple(
        name for name in options.engines if name not in engines))


def _serve_file(connection: Connection, path: Path, skip: int, options: Options,
                size: int | None, first: tuple[str, ...] = (),
                every: tuple[str, ...] = ()) -> None:
    """Evaluate ``path``'s cases from ``skip`` (the first of them without the engines
    ``first``, every one without ``every``: they crashed), sending each result."""
    everything, options = options, _without(options, every)
    try:
        cases = load_cases(path)
        if size is not None:
            cases = [case.at_size(size) for case in cases]
    except DiffcmpError as exc:
        connection.send(("load_error", CaseResult(path.stem, source=str(path),
                                                  load_error=str(exc))))
        return
    except Exception as exc:  # a bug, or memory: the file still gets its line
        connection.send(("load_error", CaseResult(
            path.stem, source=str(path),
            load_error=f"{path}: loading failed: {type(exc).__name__}: {exc}")))
        return
    selected = [i for i, case in enumerate(cases)
                if not options.tags or set(options.tags) & set(case.tags)]
    for index in selected:
        if index < skip:
            continue
        case = cases[index]
        declared = dict(case.expect.get("status", {}))
        tolerances = {name: tolerance_for(case, name, everything)
                      for name in everything.engines}
        source = case.source or str(path)
        here = _without(options, first if index == skip else ())
        connection.send(("start", index, selected[-1], case.name, source, declared, tolerances,
                         here.engines))
        try:
            result = evaluate(case, here)
            connection.send(("result", result))
        except Exception as exc:  # an unexpected failure (MemoryError...) is a row, not a crash
            message = f"the case failed: {type(exc).__name__}: {exc}"
            connection.send(("result", failed_result(case.name, source, here.engines,
                                                     "error", message, declared, tolerances)))
    connection.send(("done",))


def main(argv: list[str]) -> int:
    """The worker's entry point: ``argv`` is ``[-c, FD, MEMORY_LIMIT]`` (see :class:`Worker`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    fd, memory_limit = int(argv[1]), int(argv[2])
    connection = Connection(fd)
    watch.listen(lambda engine: connection.send(("engine", engine)))
    try:
        _serve(connection, memory_limit)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the parent went away
    return 0


__all__ = ["DEFAULT_TIMEOUT_S", "MIN_MEMORY", "STARTUP_TIMEOUT_S", "THREAD_CAPS",
           "EngineStartError", "Interrupted", "Worker", "WorkerDiedError",
           "default_memory_limit", "failed_result", "main", "ready_worker", "run_file",
           "run_files", "worker_environment"]
