"""Engines that take their worker process down (issue 20): a plugin that aborts, a framework
that segfaults. The worker announces each call into an engine (:mod:`~diffcmp.run.watch`), so a
case whose process dies inside an engine is run again in a fresh worker without that engine, and
the engine gets an ``error`` row saying what happened; the other engines keep their verdicts. An
engine that has crashed :data:`CRASH_LIMIT` cases (or the worker as it started) is left out of the
rest of the run, each later case with an ``error`` row that says why, so that one broken engine
costs a few worker restarts, not one per case. A crash outside any engine (loading, the
reference) still gives every engine of the case an ``error`` row.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..grading.grade import Verdict
from ..registry import engine_info
from ..status import Status
from .options import Options
from .rows import CaseResult

#: Cases an engine may crash before it is left out of the rest of the run.
CRASH_LIMIT = 2


@dataclass
class Crashes:
    """What the engines of one run have crashed, shared by its workers."""

    limit: int = CRASH_LIMIT
    #: (file, case index) -> {engine: message}: the engines a case runs again without.
    pending: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    #: Engine -> the cases it crashed.
    cases: dict[str, list[str]] = field(default_factory=dict)
    #: Engine -> why it is left out of the rest of the run.
    banned: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def crashed(self, engine: str, path: Path, index: int, case: str, what: str) -> None:
        """``engine`` took the worker down (``what``: ``crashed its worker process (killed by
        signal SIGABRT)``) on case ``index`` of ``path``, named ``case``."""
        with self.lock:
            self.pending.setdefault((str(path), index), {})[engine] = (
                f"the engine {what} on this case; the case ran again without it")
            seen = self.cases.setdefault(engine, [])
            seen.append(case)
            if len(seen) >= self.limit:
                self.banned.setdefault(engine, (
                    f"not run: the engine {what} on {len(seen)} cases ({', '.join(seen)}), so "
                    "it is left out of the rest of the run"))

    def failed_to_start(self, engine: str, what: str) -> None:
        """``engine`` took a new worker down as it started (``what`` as for :meth:`crashed`)."""
        with self.lock:
            self.banned.setdefault(engine, f"not run: the engine {what} as the worker process "
                                           "started, so it is left out of the run")

    def excluded(self, path: Path, index: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The engines case ``index`` of ``path`` runs without, and those every case does."""
        with self.lock:
            return (tuple(self.pending.get((str(path), index), ())), tuple(self.banned))

    def without(self, options: Options) -> Options:
        """``options`` without the engines left out of the run."""
        with self.lock:
            if not self.banned:
                return options
            return dataclasses.replace(options, engines=tuple(
                name for name in options.engines if name not in self.banned))

    def complete(self, result: CaseResult, path: Path, index: int, engines: tuple[str, ...],
                 declared: Mapping[str, str], tolerances: Mapping[str, float]) -> None:
        """Give ``result`` (case ``index`` of ``path``) an ``error`` row for each engine of
        ``engines`` that it ran without, and hold its declared status against that."""
        with self.lock:
            left_out = {**{name: why for name, why in self.banned.items() if name in engines},
                        **self.pending.pop((str(path), index), {})}
        if not left_out or result.load_error:
            return
        nan = math.nan
        for name, message in left_out.items():
            tolerance = tolerances.get(name, engine_info(name).tolerance)
            result.add_agreement(0, name, Verdict(Status.ERROR, nan, nan, message), nan,
                                 tolerance, declared.get(name))
            if name in declared:
                result.expectations = [row for row in result.expectations
                                       if (row["kind"], row["item"]) != ("status", name)]
                result.add_expectation("status", name, declared[name], str(Status.ERROR),
                                       declared[name] == str(Status.ERROR))


__all__ = ["CRASH_LIMIT", "Crashes"]
