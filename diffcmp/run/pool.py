"""Several workers at once: case files shared out among ``jobs`` worker processes.

A run that times its cases uses one worker (:func:`~diffcmp.run.isolation.run_files`), so that
no timing shares the CPU with another case. An agreement-only run (``timing=False``) has nothing
to disturb, and by default uses one worker per core (:func:`default_jobs`): each takes the next
file from a shared queue, under the same time and memory limits as a lone worker. The results
come back in the files' order, whichever worker ran them; Ctrl-C stops every worker and raises
:class:`~diffcmp.run.isolation.Interrupted` with the cases that had finished.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from .crashes import Crashes
from .isolation import Interrupted, Worker, ready_worker, run_file, run_files
from .options import Options
from .progress import Finished, Progress, as_progress
from .rows import CaseResult

#: Workers at most by default: each holds PyTorch, JAX and SymPy (several hundred MB).
MAX_DEFAULT_JOBS = 8
#: Memory a worker should have to itself before the default adds another.
MEMORY_PER_JOB = 2 * 2**30


def default_jobs(options: Options) -> int:
    """1 when ``options`` time the engines; else one per core this process may use, at most
    ``MAX_DEFAULT_JOBS`` and one per ``MEMORY_PER_JOB`` of physical memory."""
    if options.timing:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MEMORY_PER_JOB
    except (ValueError, OSError, AttributeError):
        memory = 1
    return max(1, min(cores or 1, MAX_DEFAULT_JOBS, memory))


class _Serialised(Progress):
    """Passes events on one at a time, and none once the run is stopping."""

    def __init__(self, listener: Progress, lock: threading.Lock,
                 stopping: threading.Event) -> None:
        self.listener, self.lock, self.stopping = listener, lock, stopping

    def started(self, name: str) -> None:
        with self.lock:
            if not self.stopping.is_set():
                self.listener.started(name)

    def finished(self, done: Finished) -> None:
        with self.lock:
            if not self.stopping.is_set():
                self.listener.finished(done)


def run_pool(files: Iterable[Path], options: Options, timeout: float, memory_limit: int | None,
             progress: Progress | Callable[[str], None] | None = None,
             jobs: int = 1) -> list[CaseResult]:
    """:func:`~diffcmp.run.isolation.run_files` with ``jobs`` workers: one
    :class:`CaseResult` per case, in the files' order."""
    files = list(files)
    if jobs <= 1 or len(files) <= 1:
        return run_files(files, options, timeout, memory_limit, progress)
    lock, stopping = threading.Lock(), threading.Event()
    listener = _Serialised(as_progress(progress), lock, stopping)
    todo: queue.SimpleQueue[tuple[int, Path]] = queue.SimpleQueue()
    for item in enumerate(files):
        todo.put(item)
    by_file: dict[int, list[CaseResult]] = {}
    workers: list[Worker] = []
    failures: list[BaseException] = []
    crashes = Crashes()

    def serve() -> None:
        worker: Worker | None = None
        try:
            while not stopping.is_set():
                try:
                    index, path = todo.get_nowait()
                except queue.Empty:
                    return
                results = by_file[index] = []
                skip: int | None = 0
                while skip is not None and not stopping.is_set():
                    if worker is None:
                        worker = ready_worker(None, options, memory_limit, crashes)
                        with lock:
                            workers.append(worker)
                    skip, failed = run_file(worker, path, skip, options, timeout, listener,
                                            results, crashes=crashes)
                    if failed:
                        worker.stop()
                        worker = None
        except BaseException as exc:  # a worker that cannot start: the run stops, and says why
            if not stopping.is_set():
                failures.append(exc)
                stopping.set()
        finally:
            if worker is not None:
                worker.stop()

    threads = [threading.Thread(target=serve, daemon=True, name=f"diffcmp-worker-{i}")
               for i in range(min(jobs, len(files)))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)
    except KeyboardInterrupt:
        finished = _in_order(by_file)  # before the workers go: a killed one's row is no result
        stopping.set()
        with lock:
            for worker in workers:
                worker.stop()
        for thread in threads:
            thread.join(5)
        raise Interrupted(finished) from None
    if failures:
        raise failures[0]
    return _in_order(by_file)


def _in_order(by_file: dict[int, list[CaseResult]]) -> list[CaseResult]:
    return [result for index in sorted(by_file) for result in list(by_file[index])]


__all__ = ["default_jobs", "run_pool"]
