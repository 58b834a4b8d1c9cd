"""Statuses: the one vocabulary of verdicts, defined once.

A ``str`` enum, so that CSV files, ``results.json`` and comparisons with plain strings keep the
same text (``Status.OK == "ok"``). The order is the order reports list them in.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """What one engine's row at one point says."""

    OK = "ok"
    MISMATCH = "mismatch"
    NAN = "nan"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"
    ERROR = "error"
    KINK = "kink"
    UNDEFINED = "undefined"
    TIMEOUT = "timeout"
    UNRESOLVED = "unresolved"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every status's text, in report order."""
        return tuple(status.value for status in cls)

    @property
    def fails(self) -> bool:
        """Whether this status fails a run (unless the case declares it: ``undefined`` is
        declared by ``[expect.status] reference = "undefined"``, or allowed in Python by
        ``allow_undefined=True``)."""
        return self in FAILING

    @property
    def gives_verdict(self) -> bool:
        """Whether the row says the engine is right or wrong (``kink``, ``undefined``,
        ``unsupported``: no verdict)."""
        return self not in NO_VERDICT


#: Statuses that fail a run unless the case declares them in ``[expect.status]``. ``undefined``
#: grades nothing, and so fails unless declared: a run must not pass where nothing was checked.
FAILING = frozenset({Status.MISMATCH, Status.NAN, Status.ERROR, Status.TIMEOUT,
                     Status.UNDEFINED})
#: Statuses that grade nothing: the engine could not be asked, or the point has no single answer.
NO_VERDICT = frozenset({Status.UNSUPPORTED, Status.SKIPPED, Status.KINK, Status.UNDEFINED,
                        Status.UNRESOLVED})
#: Display rank of a status among one engine's points: reports show the worst.
SEVERITY = {Status.OK: 0, Status.KINK: 1, Status.UNSUPPORTED: 1, Status.SKIPPED: 1,
            Status.UNDEFINED: 2,
            Status.UNRESOLVED: 2, Status.MISMATCH: 3, Status.NAN: 4, Status.ERROR: 5,
            Status.TIMEOUT: 5}
