"""Which engine is running: a worker process announces each call into an engine, so that a case
that takes the process down (an abort, a segfault in a framework) is blamed on that engine and run
again without it (:mod:`~diffcmp.run.isolation`, :mod:`~diffcmp.run.crashes`).

In the caller's own process nothing listens, and :func:`engine_call` costs a ``None`` check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_listener: Callable[[str | None], None] | None = None


def listen(listener: Callable[[str | None], None] | None) -> None:
    """Hear the name of each engine as a call into it starts, and ``None`` as it ends (the worker
    process sends them to its parent); ``None``: stop listening."""
    global _listener
    _listener = listener


@contextmanager
def engine_call(name: str) -> Iterator[None]:
    """Announce that the block calls into engine ``name`` (and that it is over, however it
    ends)."""
    if _listener is None:
        yield
        return
    _listener(name)
    try:
        yield
    finally:
        _listener(None)


__all__ = ["engine_call", "listen"]
