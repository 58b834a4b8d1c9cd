"""On a Dask cluster: case files, and a sweep's sizes, sent to the workers of a Dask
``distributed`` scheduler (``--scheduler ADDRESS``, ``[tool.diffcmp] scheduler``).

Each file is one task (:func:`run_cluster`; a sweep: one task per size, :func:`sweep_cluster`).
On its Dask worker a task runs the file as :mod:`~diffcmp.run.isolation` does here: in a diffcmp
worker process (one per Dask worker thread, kept from one task to the next and stopped at the end
of the run) under the time and memory limits, so that a case that hangs or crashes becomes its
rows there. The results come back in the files' order, as a serial run's.

Timing: a timed task holds an exclusive lock of its machine (``flock`` on a file in the
temporary folder) while it runs, an agreement-only task a shared one, so that a timed case runs
with no other diffcmp case on its machine, however many Dask workers and threads are there.
Other programs' work is not stopped: timed runs want workers on machines of their own. Which
worker ran each case is kept in ``meta["cluster"]`` (the report's Environment section).

A Dask worker that dies (killed, out of memory) is survived. The scheduler runs the task again
(its ``allowed-failures``), and the task resumes the file where the dead worker stopped, from a
record it keeps on the scheduler (a Dask ``Variable``: the cases that finished, the one running,
on which worker): the case that was running is run once more, and if a second worker dies on it
it gets ``error`` rows naming the lost workers and the file goes on. A task the scheduler gives
up on (``KilledWorker``) or loses (cancelled) is submitted again, at most
:data:`MAX_RESUBMITS` times; then what it had not finished is reported as an error.

Dask is an optional extra (``pip install 'diffcmp[dask]'``), imported only to use a cluster.
"""

from __future__ import annotations

import math
import os
import pickle
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DiffcmpError
from .dasktask import MAX_TRIES, TaskRecord, read_record, release_idle, task
from .isolation import Interrupted, failed_result
from .options import Options
from .progress import Finished, Progress, as_progress
from .rows import CaseResult
from .sweep import SizeRun, _finished

if TYPE_CHECKING:
    from distributed import Client

#: What installs Dask, in the error that says it is missing.
INSTALL = "pip install 'diffcmp[dask]' (pip install -e '.[dask]' in a clone)"
#: Seconds to reach the scheduler.
CONNECT_TIMEOUT_S = 30
#: Times a file's task is submitted again after the scheduler gave up on it or lost it.
MAX_RESUBMITS = 3


def connect(address: str) -> Client:
    """A :class:`distributed.Client` of the scheduler at ``address``; :class:`DiffcmpError`
    when Dask is not installed (saying how to install it) or the scheduler cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise DiffcmpError(f"--scheduler needs Dask, which is not installed: {INSTALL}") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DiffcmpError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _given_up(record: TaskRecord, path: str, options: Options, exc: BaseException) -> TaskRecord:
    """What a file that the cluster gave up on reports: what it finished, ``error`` rows for
    the case it was running, and a line for the rest."""
    why = f"its Dask workers died or it was lost ({type(exc).__name__}: {exc})"
    if record.current is not None:
        index, last, name, source, declared, tolerances = record.current[:6]
        record.results.append(failed_result(name, source, options.engines, "error",
                                            f"the case was not finished: {why}", declared,
                                            tolerances))
        record.seconds.append(math.nan)
        record.workers.append(record.on)
        record.skip = index + 1 if index < last else None
    if record.skip is not None:
        record.results.append(CaseResult(Path(path).stem, source=path, load_error=(
            f"{path}: not run from its case {record.skip + 1} on: {why}")))
        record.seconds.append(math.nan)
        record.workers.append(record.on)
    return record


def _run_tasks(scheduler: str, items: Sequence[tuple[str, int | None]], options: Options,
               timeout: float, memory_limit: int | None,
               on_done: Callable[[int, TaskRecord], None]) -> list[TaskRecord]:
    """Each (path, size) of ``items`` as a task on the cluster at ``scheduler``; their records in
    ``items``' order, ``on_done`` called as each comes back."""
    client = connect(scheduler)
    from distributed import KilledWorker, Variable, as_completed

    run = uuid.uuid4().hex[:12]
    names = [f"diffcmp-{run}-{i}" for i in range(len(items))]
    submitted = [0] * len(items)

    def submit(i: int) -> Any:
        path, size = items[i]
        submitted[i] += 1
        return client.submit(task, os.path.abspath(path), size, options, timeout, memory_limit,
                             names[i],
                             key=f"diffcmp-{Path(path).stem}-{run}-{i}-{submitted[i]}",
                             pure=False)

    done: dict[int, TaskRecord] = {}
    futures: dict[Any, int] = {}
    try:
        empty = pickle.dumps(TaskRecord())
        for name in names:
            Variable(name, client=client).set(empty)
        futures = {submit(i): i for i in range(len(items))}
        pending = as_completed(list(futures))
        for future in pending:
            i = futures.pop(future)
            try:
                record = future.result()
            except (KilledWorker, CancelledError) as exc:
                if submitted[i] <= MAX_RESUBMITS:
                    again = submit(i)
                    futures[again] = i
                    pending.add(again)
                    continue
                record = _given_up(read_record(Variable(names[i], client=client)), items[i][0],
                                   options, exc)
            done[i] = _as_given(record, items[i][0])
            on_done(i, record)
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        _close(client, names)
    return [done[i] for i in range(len(items))]


def _as_given(record: TaskRecord, path: str) -> TaskRecord:
    """``record`` with the file's absolute path (sent to the workers, whose working folder is
    not ours) written as the user gave it, as in a serial run."""
    absolute = os.path.abspath(path)
    for result in record.results:
        result.source = path if result.source == absolute else result.source
        if result.load_error:
            result.load_error = result.load_error.replace(absolute, path)
    return record


def _close(client: Client, names: Sequence[str]) -> None:
    """Forget the run's records, stop the workers' idle diffcmp processes, disconnect."""
    from distributed import Variable

    try:
        for name in names:
            Variable(name, client=client).delete()
        client.run(release_idle, on_error="ignore")
    finally:
        client.close()


def cluster_meta(scheduler: str, records: Sequence[TaskRecord],
                 names: Sequence[str] | None = None) -> dict[str, Any]:
    """``meta["cluster"]``: the scheduler, and the worker of each case (``names``: of each
    record instead, a sweep's sizes)."""
    if names is not None:
        workers = {name: record.workers[0] if record.workers else ""
                   for name, record in zip(names, records, strict=True)}
    else:
        workers = {result.case: worker for record in records
                   for result, worker in zip(record.results, record.workers, strict=True)}
    return {"scheduler": scheduler, "workers": workers}


def run_cluster(files: Sequence[Path], options: Options, timeout: float,
                memory_limit: int | None, progress: Progress | Callable[[str], None] | None,
                scheduler: str) -> tuple[list[CaseResult], dict[str, Any]]:
    """Every case of ``files`` on the Dask cluster at ``scheduler`` (see the module docstring):
    one :class:`CaseResult` per case in the files' order, and ``meta["cluster"]``. Raises
    :class:`Interrupted` on Ctrl-C, with the files that had come back."""
    listener = as_progress(progress)
    finished: dict[int, TaskRecord] = {}

    def on_done(i: int, record: TaskRecord) -> None:
        finished[i] = record
        for result, seconds in zip(record.results, record.seconds, strict=True):
            listener.started(result.case)
            listener.finished(Finished.of(result, seconds))

    try:
        records = _run_tasks(scheduler, [(str(path), None) for path in files], options,
                             timeout, memory_limit, on_done)
    except KeyboardInterrupt:
        raise Interrupted([r for i in sorted(finished) for r in finished[i].results]) from None
    return [r for record in records for r in record.results], cluster_meta(scheduler, records)


def sweep_cluster(path: str | Path, sizes: Sequence[int], options: Options, timeout: float,
                  memory_limit: int | None, on_size: Callable[[SizeRun], None] | None,
                  name: str, scheduler: str) -> tuple[list[SizeRun], dict[str, Any]]:
    """The case of ``path`` at each of ``sizes``, one task per size on the cluster at
    ``scheduler``: its :class:`SizeRun` per size in order (the wall time its worker measured),
    and ``meta["cluster"]``."""
    runs: dict[int, SizeRun] = {}

    def on_done(i: int, record: TaskRecord) -> None:
        runs[i] = SizeRun(sizes[i], record.results[0], record.wall_s, name)
        if on_size:
            on_size(runs[i])

    try:
        records = _run_tasks(scheduler, [(str(path), size) for size in sizes], options,
                             timeout, memory_limit, on_done)
    except KeyboardInterrupt:
        raise Interrupted(_finished([runs[i] for i in sorted(runs)])) from None
    return [runs[i] for i in range(len(sizes))], cluster_meta(
        scheduler, records, [f"{name} = {size}" for size in sizes])


__all__ = ["CONNECT_TIMEOUT_S", "INSTALL", "MAX_RESUBMITS", "MAX_TRIES", "cluster_meta",
           "connect", "run_cluster", "sweep_cluster"]
