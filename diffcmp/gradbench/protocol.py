"""GradBench's protocol, the eval's side: a session with one tool process over JSON lines.

GradBench (``CONTRIBUTING.md``, "Protocol"; ``crates/gradbench/src/protocol.rs``;
``python/gradbench/gradbench/eval.py``) runs an eval and a tool as two processes: the eval
writes one JSON message per line to the tool's stdin, numbered by ``id`` from 0, and the tool
answers each with one line carrying the same ``id``:

* ``{"kind": "start", "eval": NAME}``: the reply may name the ``tool``;
* ``{"kind": "define", "module": NAME}``: ``success: false`` means the tool has no such eval;
* ``{"kind": "evaluate", "module", "function", "input", "description"}``: the reply has
  ``success``, ``output`` and ``timings`` (``[{"name": "evaluate", "nanoseconds": N}, ...]``,
  one per run) or an ``error``;
* ``{"kind": "analysis", "of": ID, "valid": BOOL, "error"?: TEXT}`` after each successful
  evaluate: the tool only acknowledges it.

:class:`ToolSession` starts the tool (a shell command, in its own process group), sends a
message and waits for its reply until a deadline (``timeout`` seconds from the send: writing a
large input counts too). Whatever breaks the session raises :class:`ProtocolError`, whose
``kind`` names it: ``crash`` (the tool exited, or stopped reading), ``hang`` (no reply by the
deadline), ``wrong id``, ``malformed JSON`` (a line that is not a JSON object) and ``malformed
reply`` (a field of the wrong type). The session cannot go on after any of them (GradBench's own
eval stops too); :meth:`ToolSession.close` ends the process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from typing import Any

from ..errors import DiffcmpError
from ..status import Status

#: How much of the tool's stderr a crash message quotes (its end: a traceback's last lines).
STDERR_TAIL = 600
#: How long a closed tool may take to exit before it is killed.
EXIT_GRACE_S = 2.0

#: The failures that end a session, and the status each gives.
KINDS = {"crash": Status.ERROR, "hang": Status.TIMEOUT, "wrong id": Status.ERROR,
         "malformed JSON": Status.ERROR, "malformed reply": Status.ERROR}


class ProtocolError(DiffcmpError):
    """The tool broke the protocol; ``kind`` is one of :data:`KINDS`."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)

    @property
    def status(self) -> Status:
        """The status a function the failure stopped gets."""
        return KINDS[self.kind]


class ToolSession:
    """One running tool: :meth:`ask` sends a message and returns its reply."""

    def __init__(self, command: str, timeout: float) -> None:
        if not command.strip():
            raise DiffcmpError("--tool is empty: give the command that starts the tool")
        self.command = command
        self.timeout = timeout
        self.next_id = 0
        try:
            self.process = subprocess.Popen(  # a shell command, as GradBench's --tool
                command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise DiffcmpError(f"cannot start the tool {command!r}: {exc}") from None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: deque[bytes] = deque(maxlen=64)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()

    def _read_stdout(self) -> None:
        stdout = self.process.stdout
        if stdout is not None:  # opened with PIPE
            for line in iter(stdout.readline, b""):
                self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        stderr = self.process.stderr
        if stderr is not None:  # opened with PIPE
            for chunk in iter(lambda: stderr.read(4096), b""):
                self._stderr.append(chunk)

    def stderr_tail(self) -> str:
        """The end of what the tool wrote to stderr, one line."""
        text = b"".join(self._stderr).decode("utf-8", "replace").strip()
        text = " | ".join(line.strip() for line in text.splitlines()[-6:] if line.strip())
        return text[-STDERR_TAIL:]

    def ask(self, message: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        """Send ``message`` (its ``id`` added) and wait for its reply: returns the id, the reply
        and the seconds from the send to the reply. Raises :class:`ProtocolError`."""
        message_id = self.next_id
        self.next_id += 1
        line = json.dumps({"id": message_id} | message).encode() + b"\n"
        start = time.perf_counter()
        deadline = start + self.timeout
        self._send(line, deadline, message["kind"])
        reply = self._receive(deadline, message["kind"])
        elapsed = time.perf_counter() - start
        try:
            reply = json.loads(reply)
        except ValueError:
            raise ProtocolError("malformed JSON", f"the reply to {message['kind']} (id "
                                  f"{message_id}) is not JSON: {_quote(reply)}") from None
        if not isinstance(reply, dict):
            raise ProtocolError("malformed JSON", f"the reply to {message['kind']} (id "
                                  f"{message_id}) is not a JSON object: {_quote(reply)}")
        if reply.get("id") != message_id or isinstance(reply.get("id"), bool):
            raise ProtocolError("wrong id", f"the reply to {message['kind']} has id "
                                  f"{reply.get('id')!r}, expected {message_id}")
        return message_id, reply, elapsed

    def _send(self, line: bytes, deadline: float, kind: str) -> None:
        failed: list[str] = []

        def write() -> None:
            stdin = self.process.stdin
            try:
                if stdin is None:  # opened with PIPE
                    raise ValueError("no stdin")
                stdin.write(line)
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as exc:
                failed.append(type(exc).__name__)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(max(0.0, deadline - time.perf_counter()))
        if writer.is_alive():
            self.kill()
            raise ProtocolError("hang", f"the tool did not read the {kind} message within "
                                  f"{self.timeout:g} s (--timeout); it was stopped")
        if failed:
            raise self._crashed(kind)

    def _receive(self, deadline: float, kind: str) -> bytes:
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.perf_counter()))
        except queue.Empty:
            self.kill()
            raise ProtocolError("hang", f"no reply to {kind} within {self.timeout:g} s "
                                  "(--timeout); the tool was stopped") from None
        if line is None:
            raise self._crashed(kind)
        return line.strip()

    def _crashed(self, kind: str) -> ProtocolError:
        try:
            code = self.process.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            code = None
        what = f"exited with code {code}" if code is not None else "closed its stdout"
        if code is not None:  # stderr read to its end (it ends with the process)
            self._stderr_reader.join(EXIT_GRACE_S)
        tail = self.stderr_tail()
        return ProtocolError("crash", f"the tool {what} instead of answering {kind}"
                               + (f"; its stderr ends: {tail}" if tail else ""))

    def kill(self) -> None:
        """End the tool's process group now (while its leader runs: a reaped leader's id may
        be another process's by now)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=EXIT_GRACE_S)

    def close(self) -> None:
        """Close the tool's stdin (GradBench's tools exit at its end), give it
        :data:`EXIT_GRACE_S` to exit, then end its process group."""
        with contextlib.suppress(OSError, ValueError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=EXIT_GRACE_S)
        self.kill()  # still running: its group goes (GradBench's intermediary kills it too)
        for stream in (self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()


def _quote(value: Any, limit: int = 120) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else json.dumps(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def timings_of(reply: dict[str, Any]) -> list[float]:
    """The seconds of each ``"evaluate"`` timing of a reply (GradBench: one per run); raises
    :class:`ProtocolError` for timings that are not a list of ``{"name", "nanoseconds"}``."""
    timings = reply.get("timings")
    if timings is None:
        return []
    if not isinstance(timings, list) or not all(
            isinstance(t, dict) and isinstance(t.get("name"), str)
            and isinstance(t.get("nanoseconds"), int) and not isinstance(t["nanoseconds"], bool)
            and t["nanoseconds"] >= 0 for t in timings):
        raise ProtocolError("malformed reply", "timings must be a list of {\"name\": text, "
                              f"\"nanoseconds\": whole number}}, not {_quote(timings)}")
    return [t["nanoseconds"] / 1e9 for t in timings if t["name"] == "evaluate"]


def success_of(reply: dict[str, Any], kind: str) -> bool:
    """The reply's ``success`` (a boolean, required by define and evaluate replies)."""
    success = reply.get("success")
    if not isinstance(success, bool):
        raise ProtocolError("malformed reply", f"the {kind} reply's success must be true or "
                              f"false, not {_quote(success)}")
    return success
