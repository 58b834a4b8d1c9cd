"""The Dask worker's side of a run on a cluster (:mod:`~diffcmp.run.cluster` describes it): one
file's task, resumed from its record on the scheduler, in a diffcmp worker process kept per Dask
worker thread, under this machine's lock.

Imports Dask only inside :func:`task`, which runs on a Dask worker."""

from __future__ import annotations

import fcntl
import math
import os
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .crashes import Crashes
from .isolation import Worker, failed_result, ready_worker, run_file
from .options import Options
from .progress import Finished, Progress
from .rows import CaseResult

#: Times a case is run when its Dask worker dies under it: once more, then ``error`` rows.
MAX_TRIES = 2
#: Seconds to wait for a record on the scheduler.
RECORD_TIMEOUT_S = 30


@dataclass
class TaskRecord:
    """What a file's task has done, kept on the scheduler between its attempts (and returned)."""

    results: list[CaseResult] = field(default_factory=list)
    #: Per result: its seconds and the worker that ran it.
    seconds: list[float] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    #: The next case's index in the file; ``None``: the file is done.
    skip: int | None = 0
    #: The running case as its worker announced it (its ``start`` message: index, last, name,
    #: source, declared, tolerances, and any later fields); ``None`` between cases.
    current: tuple[Any, ...] | None = None
    #: Attempts begun, the worker of the latest, and the workers lost on the running case.
    attempts: int = 0
    on: str = ""
    lost: list[str] = field(default_factory=list)
    #: Times each case (by index) was started.
    tries: dict[int, int] = field(default_factory=dict)
    #: Seconds the attempt that finished the file took (a sweep's size: its wall time).
    wall_s: float = math.nan


_LOCAL = threading.local()  # this thread's diffcmp worker process and what it was made for
_REGISTRY = threading.Lock()
_BUSY: set[Worker] = set()
_IDLE: set[Worker] = set()


def _take_worker(options: Options, memory_limit: int | None, crashes: Crashes) -> Worker:
    """This thread's diffcmp worker process, started if it has none for ``options`` (a process
    dies with the thread that started it: one per thread)."""
    key = pickle.dumps((options, memory_limit))
    with _REGISTRY:
        held = getattr(_LOCAL, "held", None)
        if held is not None:
            if held[0] == key and held[1] in _IDLE and held[1].process.poll() is None:
                _IDLE.discard(held[1])
                _BUSY.add(held[1])
                return held[1]
            _IDLE.discard(held[1])
            held[1].stop()
        _LOCAL.held = None
    worker = ready_worker(None, options, memory_limit, crashes)
    with _REGISTRY:
        _LOCAL.held = (key, worker)
        _BUSY.add(worker)
    return worker


def _give_back(worker: Worker, keep: bool = True) -> None:
    """``worker`` idle again (``keep``), or stopped: a case failed it."""
    with _REGISTRY:
        _BUSY.discard(worker)
        if keep:
            _IDLE.add(worker)
        else:
            worker.stop()


def release_idle() -> int:
    """Stop the idle diffcmp worker processes of this Dask worker (run on each at the end of a
    run); a busy one, another run's, is left alone. Returns how many were stopped."""
    with _REGISTRY:
        idle = list(_IDLE)
        _IDLE.clear()
        for worker in idle:
            worker.stop()
    return len(idle)


@contextmanager
def _machine_lock(exclusive: bool) -> Iterator[None]:
    """This machine's diffcmp lock: exclusive for a timed task, shared otherwise (released by
    the kernel if the process dies)."""
    path = Path(tempfile.gettempdir()) / f"diffcmp-cluster-{os.getuid()}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


class _Recording(Progress):
    """Passed to :func:`~diffcmp.run.isolation.run_file` as its worker (each case's start) and
    its progress (each case's end): keeps the task's record up to date on the scheduler."""

    def __init__(self, worker: Worker, record: TaskRecord, save: Callable[[], None]) -> None:
        self.worker, self.record, self.save = worker, record, save

    def send(self, message: Any) -> None:
        self.worker.send(message)

    def receive(self, deadline: float) -> Any:
        message = self.worker.receive(deadline)
        if message is not None and message[0] == "start":
            index = message[1]
            self.record.current = tuple(message[1:])
            self.record.tries[index] = self.record.tries.get(index, 0) + 1
            self.save()
        return message

    def exit_text(self) -> str:
        return self.worker.exit_text()

    def finished(self, done: Finished) -> None:
        record = self.record
        record.seconds.append(done.seconds)
        record.workers.append(record.on)
        if record.current is None:  # the file failed to load
            record.skip = None
        else:
            index, last = record.current[:2]
            record.skip = index + 1 if index < last else None
        record.current, record.lost = None, []
        self.save()


def _resume(record: TaskRecord, options: Options) -> None:
    """After an attempt whose worker died: run its case once more, or give it ``error`` rows
    once it has been tried :data:`MAX_TRIES` times."""
    if record.attempts and record.skip is not None:
        record.lost.append(record.on)
    if record.current is None:
        return
    index, last, name, source, declared, tolerances = record.current[:6]
    if record.tries.get(index, 0) < MAX_TRIES:
        record.skip = index
        return
    lost = ", ".join(record.lost)
    record.results.append(failed_result(
        name, source, options.engines, "error", f"the case's Dask worker died while running it, "
        f"{len(record.lost)} times ({lost}); it was not run again", declared, tolerances))
    record.seconds.append(math.nan)
    record.workers.append(record.lost[-1] if record.lost else "")
    record.skip = index + 1 if index < last else None
    record.current, record.lost = None, []


def task(path: str, size: int | None, options: Options, timeout: float,
         memory_limit: int | None, name: str) -> TaskRecord:
    """One file (at ``size``, a sweep's) on a Dask worker, resumed from the record ``name``."""
    from distributed import Variable, get_worker

    variable = Variable(name)
    record = read_record(variable)
    _resume(record, options)
    record.attempts, record.on = record.attempts + 1, get_worker().address

    def save() -> None:
        variable.set(pickle.dumps(record))

    save()
    with _machine_lock(exclusive=options.timing):
        crashes = Crashes()  # an engine that crashes its process: its row, not the case's
        worker = _take_worker(options, memory_limit, crashes) if record.skip is not None \
            else None
        start = time.perf_counter()  # the file's time, as a serial run's (the worker started)
        try:
            while record.skip is not None:
                worker = worker or _take_worker(options, memory_limit, crashes)
                recording = _Recording(worker, record, save)
                record.skip, failed = run_file(recording, Path(path), record.skip, options,
                                               timeout, recording, record.results, size,
                                               crashes)
                if failed:
                    _give_back(worker, keep=False)
                    worker = None
            record.wall_s = time.perf_counter() - start
        finally:
            if worker is not None:
                _give_back(worker)
    save()
    return record


def read_record(variable: Any) -> TaskRecord:
    """The record kept in ``variable`` (set empty by the client before the first attempt)."""
    try:
        return pickle.loads(variable.get(timeout=RECORD_TIMEOUT_S))
    except TimeoutError:
        return TaskRecord()


__all__ = ["MAX_TRIES", "RECORD_TIMEOUT_S", "TaskRecord", "read_record", "release_idle", "task"]
