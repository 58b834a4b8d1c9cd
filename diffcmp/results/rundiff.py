"""What changed between two runs (``diffcmp diff OLD NEW``), as ``pyperf compare_to`` does.

Two things are compared, case by case and engine by engine:

- agreement: each engine's worst status over a case's points, on each derivative (the
  gradient, and at second order the Hessian and the Hessian-vector product). Statuses fall
  in three levels: agrees (``ok``, or a failure the case declares: ``undefined`` declared),
  gives no verdict (``unsupported``, ``skipped``, ``kink``, ``unresolved``), fails
  (``mismatch``, ``nan``, ``error``, ``timeout``, ``undefined`` not declared). A change to a
  higher level is *worse* and makes the exit code 1.
- timing: the ``loss`` and ``grad`` medians (and ``hessian`` and ``hvp`` at second order). A
  time moved when the change is beyond the run-to-run noise of the two measurements,
  ``|new - old| > IQR_old + IQR_new``, and at least ``min_change`` of the old time (default
  5%); anything else is "not significant".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tabulate import tabulate

from ..errors import DiffcmpError
from ..grading.declared import fails
from ..status import Status
from .derived import DERIVATIVES, busy_text, cost_table, worst_status
from .format import seconds
from .tables import Tables

#: Default smallest relative change of a time that counts, however small the IQRs.
MIN_CHANGE = 0.05
#: The phases whose times are compared (the Hessian's and its product's at second order).
TIMED_PHASES = ("loss", "grad", "hessian", "hvp")
#: Environment entries whose difference makes timings hard to compare.
ENVIRONMENT_KEYS = ("python", "cpu", "cpu_count", "torch_threads", "sympy", "mpmath", "numpy",
                    "torch", "jax", "diffcmp")


def level(status: str, declared: str | None = None) -> int:
    """0: agrees (or fails as the case declares); 1: no verdict; 2: fails the run."""
    if fails(status, declared):
        return 2
    if declared == status or Status(status).gives_verdict:
        return 0
    return 1


@dataclass(frozen=True)
class StatusChange:
    """One engine's worst status on one case and derivative, before and after."""

    case: str
    engine: str
    old: str
    new: str
    old_level: int
    new_level: int
    #: ``"gradient"``, ``"hessian"`` or ``"hvp"`` (a results file of version 3 or older grades
    #: the gradient only).
    derivative: str = "gradient"

    @property
    def worse(self) -> bool:
        """Whether the engine's agreement got worse (a higher level)."""
        return self.new_level > self.old_level

    @property
    def verdict(self) -> str:
        """``worse``, ``better`` or ``changed``."""
        if self.worse:
            return "worse"
        return "better" if self.new_level < self.old_level else "changed"


@dataclass(frozen=True)
class TimingChange:
    """One engine's ``loss`` or ``grad`` time on one case, before and after."""

    case: str
    engine: str
    phase: str
    old_s: float
    old_iqr_s: float
    new_s: float
    new_iqr_s: float
    min_change: float = MIN_CHANGE

    @property
    def ratio(self) -> float:
        """new / old (above 1: slower)."""
        return self.new_s / self.old_s if self.old_s > 0 else math.inf

    @property
    def significant(self) -> bool:
        """Whether the change is beyond both measurements' noise and at least ``min_change``."""
        delta = abs(self.new_s - self.old_s)
        return delta > self.old_iqr_s + self.new_iqr_s and delta >= self.min_change * self.old_s

    @property
    def description(self) -> str:
        """``1.46x slower``, ``1.30x faster`` or ``not significant``."""
        if not self.significant:
            return "not significant"
        if self.ratio >= 1:
            return f"{self.ratio:.2f}x slower"
        return f"{1 / self.ratio:.2f}x faster"


@dataclass
class Comparison:
    """Everything :func:`compare_results` found."""

    old_name: str
    new_name: str
    status_changes: list[StatusChange] = field(default_factory=list)
    timings: list[TimingChange] = field(default_factory=list)
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    environment: list[tuple[str, str, str]] = field(default_factory=list)
    #: Per run ("old", "new") on a busy machine: how busy (:func:`~.derived.busy_text`).
    busy: dict[str, str] = field(default_factory=dict)

    @property
    def worse(self) -> list[StatusChange]:
        """The changes that made an engine's agreement worse."""
        return [c for c in self.status_changes if c.worse]

    @property
    def moved(self) -> list[TimingChange]:
        """The timings that moved beyond noise."""
        return [t for t in self.timings if t.significant]

    @property
    def exit_code(self) -> int:
        """1 when an engine's agreement got worse, else 0."""
        return 1 if self.worse else 0

    def to_text(self) -> str:
        """A plain-text account for a terminal."""
        lines = [f"diffcmp diff: {self.old_name} -> {self.new_name}", ""]
        if self.environment:
            lines += ["Environment differs (timings may not be comparable): " + "; ".join(
                f"{k} {o} -> {n}" for k, o, n in self.environment), ""]
        if self.busy:
            lines += ["Busy machine: " + "; ".join(
                f"{run} run: {text}" for run, text in self.busy.items()) + ". Times on a busy "
                "machine move by more than their IQRs; compare runs from a quiet machine.", ""]
        if self.only_old:
            lines += [f"Cases only in the old run ({len(self.only_old)}): "
                      + ", ".join(self.only_old)]
        if self.only_new:
            lines += [f"Cases only in the new run ({len(self.only_new)}): "
                      + ", ".join(self.only_new)]
        if self.only_old or self.only_new:
            lines.append("")
        worse = len(self.worse)
        if self.status_changes:
            lines += [f"Agreement: {len(self.status_changes)} status change(s), {worse} worse", ""]
            second = any(c.derivative != "gradient" for c in self.status_changes)
            lines.append(tabulate(
                [[c.case, c.engine, *([c.derivative] if second else []), c.old, c.new,
                  c.verdict.upper() if c.worse else c.verdict] for c in self.status_changes],
                headers=["case", "engine", *(["derivative"] if second else []), "old", "new",
                         ""], tablefmt="simple", disable_numparse=True))
        else:
            lines.append("Agreement: no status changed.")
        lines.append("")
        if not self.timings:
            lines.append("Timing: nothing to compare (a run without timing, or no case in "
                         "common).")
        else:
            moved = self.moved
            phases = "/".join(p for p in TIMED_PHASES if any(t.phase == p
                                                             for t in self.timings))
            lines.append(f"Timing: {len(moved)} of {len(self.timings)} {phases} times moved "
                         "beyond noise (|new - old| > IQR_old + IQR_new and >= "
                         f"{self.timings[0].min_change:.0%})")
            if moved:
                lines += ["", tabulate(
                    [[t.case, t.engine, t.phase, f"{seconds(t.old_s)} ± {seconds(t.old_iqr_s)}",
                      f"{seconds(t.new_s)} ± {seconds(t.new_iqr_s)}", t.description]
                     for t in sorted(moved, key=lambda t: -abs(math.log(t.ratio)))],
                    headers=["case", "engine", "phase", "old (IQR)", "new (IQR)", "change"],
                    tablefmt="simple", disable_numparse=True)]
            lines.append(f"Not significant: {len(self.timings) - len(moved)}")
            grads = [t.ratio for t in self.timings if t.phase == "grad" and t.old_s > 0
                     and t.new_s > 0]
            if grads:
                mean = float(np.exp(np.mean(np.log(grads))))
                lines.append(f"Geometric mean of grad new/old over {len(grads)} case-engine "
                             f"pairs: {mean:.3f}")
        lines += ["", f"Exit {self.exit_code}: " + (
            f"{worse} engine result(s) got worse." if worse else "no engine got worse.")]
        return "\n".join(lines)


def load_results(path: str | Path) -> Tables:
    """Read ``results.json`` (or the ``results.json`` of a report folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DiffcmpError(f"{path}: cannot be read ({exc.strerror})") from None
    return Tables.from_json(text, str(path))


def compare_results(old: Tables, new: Tables, min_change: float = MIN_CHANGE,
                    old_name: str = "old", new_name: str = "new") -> Comparison:
    """Compare two runs: status changes per case and engine, and timings beyond noise.

    Raises :class:`~diffcmp.errors.DiffcmpError` for a negative ``min_change``.
    """
    if not min_change >= 0:
        raise DiffcmpError(f"min_change must be zero or more, got {min_change}")
    comparison = Comparison(old_name, new_name)
    old_cases = list(dict.fromkeys(old.agreement["case"]))
    new_cases = list(dict.fromkeys(new.agreement["case"]))
    comparison.only_old = [c for c in old_cases if c not in set(new_cases)]
    comparison.only_new = [c for c in new_cases if c not in set(old_cases)]
    old_env, new_env = old.meta.get("environment", {}), new.meta.get("environment", {})
    comparison.environment = [(k, str(old_env.get(k)), str(new_env.get(k)))
                              for k in ENVIRONMENT_KEYS if old_env.get(k) != new_env.get(k)]
    comparison.busy = {run: text for run, env in (("old", old_env), ("new", new_env))
                       if (text := busy_text(env))}

    def keyed(result: Tables) -> dict[tuple[str, str, str], tuple[str, int]]:
        found = {}
        for derivative in DERIVATIVES:
            for r in worst_status(result, derivative).itertuples():
                found[(r.case, r.engine, derivative)] = (r.status, level(
                    r.status, result.declaration(r.case, r.engine, r.status)))
        return found

    before, after = keyed(old), keyed(new)
    for key, (status, new_level) in after.items():
        if key in before and (before[key][0] != status or before[key][1] != new_level):
            case, engine, derivative = key
            comparison.status_changes.append(StatusChange(
                case, engine, before[key][0], status, before[key][1], new_level, derivative))

    old_costs = {(r.case, r.engine): r for r in cost_table(old).itertuples()}
    for row in cost_table(new).itertuples():
        previous = old_costs.get((row.case, row.engine))
        if previous is None:
            continue
        for phase in TIMED_PHASES:
            values = (getattr(previous, f"{phase}_s"), getattr(previous, f"{phase}_iqr_s"),
                      getattr(row, f"{phase}_s"), getattr(row, f"{phase}_iqr_s"))
            if all(math.isfinite(v) for v in values):
                comparison.timings.append(TimingChange(row.case, row.engine, phase, *values,
                                                       min_change=min_change))
    return comparison


__all__ = ["MIN_CHANGE", "Comparison", "StatusChange", "TimingChange", "compare_results",
           "level", "load_results"]
