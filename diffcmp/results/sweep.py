"""A sweep's tables: each engine's time per phase at each size (``sweep.csv``; at second order
the Hessian's and the Hessian-vector product's too), its status at each size, and the exponent
of its cost in the size.

The exponent of a phase is the slope of the least-squares line through ``(log size, log time)``
over the sizes where the engine ran (:func:`fit_exponent`): 1 for a cost linear in the size, 2
for a quadratic one. ADBench's and GradBench's plots show time against size on log-log axes; the
slope is what those plots show by eye. At small sizes a call's fixed overhead dominates and
flattens it, so the slope between the two largest sizes is given beside it (``top``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..cases import Case
from ..run.options import Options
from ..run.sweep import SizeRun
from .derived import SECOND_ORDER, cost_table, of_derivative, worst_status
from .environment import environment
from .tables import Tables

#: The columns of ``sweep.csv``, one row per size, engine and phase.
SWEEP_COLUMNS = ["case", "size", "engine", "phase", "median_s", "iqr_s", "status"]
#: The phases timed: preparation (every step summed), one loss, one gradient.
PHASES = ("prepare", "loss", "grad")
#: The phases timed beyond them at second order: one Hessian, one Hessian-vector product.
SECOND_PHASES = ("hessian", "hvp")


def fit_exponent(sizes: Sequence[float], times: Sequence[float]) -> float:
    """The slope of ``log(time)`` against ``log(size)`` by least squares, over the pairs whose
    time is finite and positive; NaN with fewer than two distinct sizes among them."""
    pairs = [(float(s), float(t)) for s, t in zip(sizes, times, strict=True)
             if s > 0 and t > 0 and math.isfinite(t)]
    if len({s for s, _ in pairs}) < 2:
        return math.nan
    x = np.log([s for s, _ in pairs])
    y = np.log([t for _, t in pairs])
    slope = np.polyfit(x, y, 1)[0]
    return float(slope)


@dataclass
class SweepResult:
    """Every size's tables (:class:`~diffcmp.results.tables.Tables`, one case each), and the
    sweep's own: :attr:`table` (``sweep.csv``), :attr:`statuses`, :attr:`exponents`."""

    case: str
    source: str
    size_name: str
    by_size: dict[int, Tables]
    engines: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_runs(cls, case: Case, runs: Sequence[SizeRun], options: Options, wall_s: float,
                  timeout: float | None = None) -> SweepResult:
        """Gather the sizes of a sweep of ``case``."""
        by_size = {run.size: Tables.from_cases([run.result], options, run.wall_s)
                   for run in runs}
        size_name = case.sweep.size if case.sweep is not None else "size"
        meta = {"environment": environment(options.threads), "wall_s": wall_s,
                "timeout": timeout, "options": {"engines": list(options.engines),
                                                "timing": options.timing,
                                                "min_time": options.min_time,
                                                "threads": options.threads,
                                                "order": options.order},
                "size_walls": {run.size: run.wall_s for run in runs},
                "description": case.description}
        return cls(case.name, case.source or "", size_name, by_size, list(options.engines),
                   meta)

    @property
    def sizes(self) -> list[int]:
        """The sizes run, ascending."""
        return sorted(self.by_size)

    @property
    def second_order(self) -> bool:
        """Whether the sweep graded second derivatives (``--order 2``)."""
        return self.meta.get("options", {}).get("order", 1) == 2 or any(
            not of_derivative(t.agreement, *SECOND_ORDER).empty for t in self.by_size.values())

    @property
    def phases(self) -> tuple[str, ...]:
        """The phases of :attr:`table`: :data:`PHASES`, and :data:`SECOND_PHASES` at second
        order."""
        return PHASES + SECOND_PHASES if self.second_order else PHASES

    @property
    def table(self) -> pd.DataFrame:
        """``sweep.csv``: one row per size, engine and phase (prepare, loss, grad; hessian and
        hvp at second order), with the engine's worst status at that size (the gradient's, and
        the Hessian's or its product's on their phases); times are NaN where the engine was not
        timed."""
        rows = []
        for size in self.sizes:
            tables = self.by_size[size]
            status = {d: dict(zip(*[worst_status(tables, d)[c] for c in ("engine", "status")],
                                  strict=True)) for d in ("gradient", *SECOND_ORDER)}
            costs = {row.engine: row for row in cost_table(tables).itertuples()}
            for engine in self.engines:
                if engine not in status["gradient"]:
                    continue
                cost = costs.get(engine)
                times = {"prepare": (cost.prepare_s if cost and cost.steps else math.nan, 0.0)}
                for phase in ("loss", "grad", *SECOND_PHASES):
                    times[phase] = (getattr(cost, f"{phase}_s"), getattr(
                        cost, f"{phase}_iqr_s")) if cost else (math.nan,) * 2
                for phase in self.phases:
                    median, iqr = times[phase]
                    derivative = phase if phase in SECOND_ORDER else "gradient"
                    rows.append({"case": self.case, "size": size, "engine": engine,
                                 "phase": phase, "median_s": median,
                                 "iqr_s": iqr if not math.isnan(median) else math.nan,
                                 "status": status[derivative].get(engine, "-")})
        return pd.DataFrame(rows, columns=SWEEP_COLUMNS)

    @property
    def exponents(self) -> pd.DataFrame:
        """One row per engine and phase: the fitted exponent, the slope between the two largest
        of those sizes (``top``), and the sizes it was fitted over (where the engine was
        timed)."""
        table = self.table
        rows = []
        for engine in self.engines:
            for phase in self.phases:
                part = table[(table["engine"] == engine) & (table["phase"] == phase)
                             & (table["median_s"] > 0)]
                fitted = [int(s) for s in part["size"]]
                times = list(part["median_s"])
                rows.append({"engine": engine, "phase": phase,
                             "exponent": fit_exponent(fitted, times),
                             "top": fit_exponent(fitted[-2:], times[-2:]), "sizes": fitted})
        return pd.DataFrame(rows, columns=["engine", "phase", "exponent", "top", "sizes"])

    @property
    def statuses(self) -> pd.DataFrame:
        """One row per size and engine: the worst status of its gradient over the points, the
        worst error, whether it fails the sweep, and the message of its first failing or
        skipped row (:meth:`statuses_of` the Hessian's and its product's)."""
        return self.statuses_of("gradient")

    def statuses_of(self, derivative: str) -> pd.DataFrame:
        """:attr:`statuses` on ``derivative`` (``"gradient"``, ``"hessian"``, ``"hvp"``)."""
        frames = []
        for size in self.sizes:
            tables = self.by_size[size]
            worst = worst_status(tables, derivative)
            agreement = of_derivative(tables.agreement, derivative)
            messages = []
            for engine, status in zip(worst["engine"], worst["status"], strict=True):
                rows = agreement[(agreement["engine"] == engine)
                                 & (agreement["status"] == status)]
                messages.append(next((m for m in rows["message"] if m), ""))
            frames.append(worst.assign(size=size, message=messages))
        columns = ["size", "engine", "status", "fails", "error", "tolerance", "message"]
        if not frames:
            return pd.DataFrame(columns=columns)
        return pd.concat(frames, ignore_index=True)[columns]

    @property
    def agreement(self) -> pd.DataFrame:
        """Every size's agreement rows, a ``size`` column first."""
        return self._gathered("agreement")

    @property
    def expectations(self) -> pd.DataFrame:
        """Every size's ``[expect]`` checks (values at the case's run size; statuses at every
        size), a ``size`` column first."""
        return self._gathered("expectations")

    @property
    def errors(self) -> pd.DataFrame:
        """Sizes at which the case could not be made or loaded, with the message."""
        return self._gathered("errors")

    def failing(self) -> pd.DataFrame:
        """Agreement rows that fail the sweep, a ``size`` column first."""
        frames = [tables.failing().assign(size=size) for size, tables in self.by_size.items()]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return self.agreement.iloc[0:0]
        gathered = pd.concat(frames, ignore_index=True)
        return gathered[["size", *[c for c in gathered.columns if c != "size"]]]

    @property
    def ok(self) -> bool:
        """True when every engine agrees (or is skipped, unsupported...) at every size and
        every expectation holds."""
        return all(tables.ok for tables in self.by_size.values())

    @property
    def exit_code(self) -> int:
        """As ``diffcmp run``: 2 a size could not be made, 1 a disagreement, else 0."""
        return max((tables.exit_code for tables in self.by_size.values()), default=0)

    def _gathered(self, name: str) -> pd.DataFrame:
        frames = [getattr(tables, name).assign(size=size)
                  for size, tables in sorted(self.by_size.items())]
        if not frames:
            return pd.DataFrame(columns=["size"])
        gathered = pd.concat(frames, ignore_index=True)
        return gathered[["size", *[c for c in gathered.columns if c != "size"]]]


__all__ = ["PHASES", "SECOND_PHASES", "SWEEP_COLUMNS", "SweepResult", "fit_exponent"]
