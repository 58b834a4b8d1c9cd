"""The parent's side of a worker process (:mod:`~diffcmp.run.isolation` describes the workers):
start one, talk to it over its socket, stop it.

This module imports nothing but the standard library (and the registry, as light), so that a
worker starts before the caller has imported SymPy or the engines: the pytest plugin starts one
as pytest starts, and the worker's own imports (diffcmp, PyTorch, JAX) overlap pytest's
start-up and collection.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DiffcmpError
from ..registry import plugin_paths

if TYPE_CHECKING:
    from .options import Options

#: Seconds a new worker may take to import diffcmp and the engines' libraries.
STARTUP_TIMEOUT_S = 300.0
#: Thread-pool sizes set to 1 in a worker's environment unless the user set them.
THREAD_CAPS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def worker_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a worker starts with: ``base`` (default ``os.environ``), with this
    diffcmp first on ``PYTHONPATH`` and the folders of the plugin engines loaded here last (a
    plugin found on a path added at run time is found there too), and each of
    :data:`THREAD_CAPS` 1 unless ``base`` sets it."""
    env = dict(os.environ if base is None else base)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")]),
                                         *plugin_paths()])
    for name in THREAD_CAPS:
        env.setdefault(name, "1")
    return env


class WorkerDiedError(Exception):
    """The worker process ended without being asked to."""


class EngineStartError(DiffcmpError):
    """A new worker process died as it started one engine's library (``engine``; ``what``
    happened: ``crashed its worker process (killed by signal SIGABRT)``)."""

    def __init__(self, engine: str, what: str) -> None:
        super().__init__(f"engine {engine} {what} as it started")
        self.engine, self.what = engine, what


#: The worker's command line (``-c``, not ``-m``: ``import diffcmp`` already imports this module).
_WORKER_MAIN = "import sys; from diffcmp.run.isolation import main; sys.exit(main(sys.argv))"


class Worker:
    """One worker process and the socket to it (see :mod:`diffcmp.run.isolation`)."""

    def __init__(self, options: Options, memory_limit: int | None, wait: bool = True) -> None:
        """Start the worker process; ``wait``: until it has imported the engines' libraries
        (else :meth:`wait_ready` does, so that the start overlaps the caller's own work)."""
        self.ready = False
        parent, child = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_MAIN, str(child.fileno()), str(memory_limit or 0)],
                pass_fds=[child.fileno()], env=worker_environment(), start_new_session=True)
        except OSError as exc:
            parent.close()
            raise DiffcmpError(f"cannot start a worker process: {exc}") from None
        finally:
            child.close()
        self.connection = Connection(parent.detach())
        self.started = time.monotonic()
        try:
            self.send(options)
        except WorkerDiedError:
            self.stop()
            raise DiffcmpError(f"the worker process failed to start ({self.exit_text()}); "
                               "see the messages above") from None
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until the worker has started (at most ``STARTUP_TIMEOUT_S`` from its start);
        :class:`DiffcmpError` if it died or did not start in time."""
        if self.ready:
            return
        starting = None  # the engine whose library the worker is starting (it says so first)
        try:
            reply = self.receive(self.started + STARTUP_TIMEOUT_S)
            while reply is not None and reply[0] == "starting":
                starting = reply[1]
                reply = self.receive(self.started + STARTUP_TIMEOUT_S)
        except WorkerDiedError:
            self.stop()
            if starting is not None and starting != "reference":
                raise EngineStartError(starting, f"crashed its worker process "
                                                 f"({self.exit_text()})") from None
            raise DiffcmpError(f"the worker process failed to start ({self.exit_text()}); "
                               "see the messages above") from None
        if reply is None or reply[0] != "ready":
            self.stop()
            raise DiffcmpError(f"the worker process did not start within "
                               f"{STARTUP_TIMEOUT_S:g} s")
        self.ready = True

    def send(self, message: Any) -> None:
        """Send one message; :class:`WorkerDiedError` if the worker is gone."""
        try:
            self.connection.send(message)
        except OSError:
            raise WorkerDiedError from None

    def receive(self, deadline: float) -> Any:
        """The next message, ``None`` at ``deadline``; :class:`WorkerDiedError` if it is gone."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self.connection.poll(remaining):
            return None
        try:
            return self.connection.recv()
        except (EOFError, OSError):
            raise WorkerDiedError from None

    def stop(self) -> None:
        """Kill the worker and anything it started (its process group), and reap it."""
        if self.process.returncode is None:  # not reaped: its pid cannot have been reused
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
        self.connection.close()

    def exit_text(self) -> str:
        """How the process ended: ``killed by signal SIGSEGV`` or ``exit code 3``."""
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.stop()
        code = self.process.returncode
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"killed by signal {name}{hint}"
        return f"exit code {code}"


__all__ = ["STARTUP_TIMEOUT_S", "THREAD_CAPS", "EngineStartError", "Worker", "WorkerDiedError",
           "worker_environment"]
