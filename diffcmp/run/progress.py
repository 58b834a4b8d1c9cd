"""Progress of a run: each case as it starts, and how it ended.

:func:`~diffcmp.run.isolation.run_files` and :func:`diffcmp.run_cases` take as ``progress``
either a plain callable, called with each case's name as it starts, or a :class:`Progress`, which
also hears how each case ended (:class:`Finished`: its worst status and the seconds it took).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..grading.declared import declaration, declared_for, rank
from ..status import Status
from .rows import CaseResult

#: The status of a case file that could not be loaded (it has no rows).
NOT_LOADED = "not loaded"


#: A failing status that its case declares, in :attr:`Finished.counts`.
DECLARED = " (declared)"


@dataclass(frozen=True)
class Finished:
    """How one case ended: its worst status over every engine and point (``NOT_LOADED`` for a
    file that could not be loaded), whether that status fails the run (a failing status the case
    declares does not), its seconds, from loading or its start to its result, how many
    ``[expect]`` checks failed, and its rows (one per engine and point) counted by status, a
    declared failing status apart (``("mismatch (declared)", 1)``), in the order of
    :class:`~diffcmp.status.Status`."""

    name: str
    status: str
    fails: bool
    seconds: float
    expectations_failed: int = 0
    counts: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, result: CaseResult, seconds: float) -> Finished:
        """What ``result`` (one case's rows) says, taking ``seconds``."""
        failed = sum(1 for row in result.expectations if not row["holds"])
        if result.load_error is not None or not result.agreement:
            return cls(result.case, NOT_LOADED, True, seconds, failed)

        def declared(row: dict[str, Any]) -> str | None:
            return declaration(declared_for(result.declared, row["derivative"]), row["engine"],
                               row["status"])

        worst = max(result.agreement, key=lambda row: rank(row["status"], declared(row)))
        status = worst["status"]
        labels = Counter(row["status"] + (DECLARED if declared(row) and Status(row["status"]).fails
                                          and not rank(row["status"], declared(row))[0] else "")
                         for row in result.agreement)
        order = {name: k for k, name in enumerate(Status.names())}
        counts = tuple(sorted(labels.items(), key=lambda item: (
            order.get(item[0].removesuffix(DECLARED), len(order)), item[0])))
        return cls(result.case, status, rank(status, declared(worst))[0], seconds, failed,
                   counts)

    def line(self, count: int, total: int | None) -> str:
        """This case as the ``count``-th line of a log: ``ok`` or ``failed`` with its rows by
        status, ``[3/62] ml_lasso: ok (6 ok, 1 unsupported; 1.2 s)``; ``not loaded`` for a file
        that could not be."""
        where = f"{count}/{total}" if total else str(count)
        if self.status == NOT_LOADED:
            return f"[{where}] {self.name}: {NOT_LOADED} ({self.seconds:.1f} s)"
        parts = [", ".join(f"{n} {label}" for label, n in self.counts)] if self.counts else []
        if self.expectations_failed:
            parts.append(f"{self.expectations_failed} expectation(s) failed")
        verdict = "failed" if self.fails or self.expectations_failed else "ok"
        parts.append(f"{self.seconds:.1f} s")
        return f"[{where}] {self.name}: {verdict} ({'; '.join(parts)})"


class Progress:
    """Hears each case start (:meth:`started`) and end (:meth:`finished`); both do nothing
    here: override either."""

    def started(self, name: str) -> None:
        """The case ``name`` starts (in a worker: its file is loaded, its case announced)."""

    def finished(self, done: Finished) -> None:
        """A case ended, as ``done`` says."""


class _Started(Progress):
    """A plain callable, called with each case's name as it starts."""

    def __init__(self, call: Callable[[str], None]) -> None:
        self.call = call

    def started(self, name: str) -> None:
        self.call(name)


def as_progress(progress: Progress | Callable[[str], None] | None) -> Progress:
    """``progress`` as a :class:`Progress` (``None``: one that does nothing)."""
    if progress is None:
        return Progress()
    if isinstance(progress, Progress):
        return progress
    return _Started(progress)


__all__ = ["NOT_LOADED", "Finished", "Progress", "as_progress"]
