"""Tables derived from a run's tables: each engine's worst status per case, the cost of each phase,
status counts, parameter counts, and how noisy the timings and how busy the machine were. Used by
the report, the plots and run diffs alike."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..grading.declared import rank
from ..grading.kinks import touched
from ..status import Status
from .tables import Tables

#: The derivatives a run grades, in report order: the gradient, and at ``order = 2`` the
#: Hessian and the Hessian-vector product (the agreement table's ``derivative`` column).
DERIVATIVES = ("gradient", "hessian", "hvp")
#: How the report names each derivative.
DERIVATIVE_NAMES = {"gradient": "gradient", "hessian": "Hessian",
                    "hvp": "Hessian-vector product"}
#: The second-order derivatives.
SECOND_ORDER = ("hessian", "hvp")


def of_derivative(agreement: pd.DataFrame, *derivatives: str) -> pd.DataFrame:
    """The rows of ``agreement`` (or of any frame with a ``derivative`` column) on one of
    ``derivatives``; a frame without the column (an older results file) grades the gradient
    only."""
    if "derivative" not in agreement.columns:
        return agreement if "gradient" in derivatives else agreement.iloc[0:0]
    return agreement[agreement["derivative"].isin(derivatives)]


def has_second_order(result: Tables) -> bool:
    """Whether the run graded second derivatives (rows on the Hessian or its product)."""
    return not of_derivative(result.agreement, *SECOND_ORDER).empty


def worst_status(result: Tables, derivative: str | None = None) -> pd.DataFrame:
    """One row per case and engine: the worst status over its points, and whether it fails;
    over the rows on ``derivative`` only (``"gradient"``, ``"hessian"``, ``"hvp"``), or over
    every row when ``None``.

    A failing status the case does not declare outranks everything; then by severity
    (:func:`~diffcmp.grading.declared.rank`); among equals, the first point's.
    """
    columns = ["case", "engine", "status", "fails", "declared", "error", "tolerance", "points",
               "ok"]
    agreement = result.agreement if derivative is None else \
        of_derivative(result.agreement, derivative)
    if agreement.empty:
        return pd.DataFrame(columns=columns)
    declared = [result.declaration(c, e, s, d) for c, e, s, d in
                zip(agreement["case"], agreement["engine"], agreement["status"],
                    agreement["derivative"], strict=True)]
    ranks = [rank(s, d) for s, d in zip(agreement["status"], declared, strict=True)]
    rows = pd.DataFrame({
        "case": agreement["case"].to_numpy(), "engine": agreement["engine"].to_numpy(),
        "status": agreement["status"].to_numpy(), "fails": [r[0] for r in ranks],
        "severity": [r[1] for r in ranks], "declared": declared,
        "error": agreement["error"].to_numpy(dtype=float),
        "tolerance": agreement["tolerance"].to_numpy(dtype=float),
        "ok": (agreement["status"] == Status.OK).to_numpy()})
    keys = ["case", "engine"]
    worst = rows.sort_values(["fails", "severity"], ascending=False, kind="stable") \
        .drop_duplicates(keys).set_index(keys)
    groups = rows.groupby(keys, sort=False)
    summary = pd.DataFrame({"error": groups["error"].max(),
                            "tolerance": groups["tolerance"].first(), "points": groups.size(),
                            "ok": groups["ok"].sum().astype(int)})
    table = summary.join(worst[["status", "fails", "declared"]]).reset_index()
    table["fails"] = table["fails"].astype(bool)
    table["declared"] = table["declared"] == table["status"]
    return table[columns]


def param_counts(result: Tables) -> dict[str, int]:
    """Number of gradient components of each case (from any engine that produced a gradient)."""
    grads = result.gradients
    if grads.empty:
        return {}
    first = grads[grads["point"] == 0].groupby(["case", "engine"]).size()
    return {case: int(n) for case, n in first.groupby(level="case").max().items()}


def cost_table(result: Tables) -> pd.DataFrame:
    """One row per timed case and engine: prepare (sum of steps), loss and grad medians and IQRs,
    calls, and the cost ratio ``grad / loss``; at second order the ``hessian`` and ``hvp``
    medians and IQRs too, with their cost in gradients (``hessian_ratio``: ``hessian / grad``,
    ``hvp_ratio``: ``hvp / grad``; NaN where not timed)."""
    columns = ["case", "engine", "prepare_s", "steps", "loss_s", "loss_iqr_s", "loss_runs",
               "grad_s", "grad_iqr_s", "grad_runs", "ratio", "hessian_s", "hessian_iqr_s",
               "hessian_ratio", "hvp_s", "hvp_iqr_s", "hvp_ratio"]
    rows = []
    for (case, engine), group in result.timing.groupby(["case", "engine"], sort=False):
        phases = {p: (m, q, r) for p, m, q, r in zip(group["phase"], group["median_s"],
                                                     group["iqr_s"], group["runs"], strict=True)}
        steps = {p.removeprefix("prepare: "): m for p, (m, _, _) in phases.items()
                 if p.startswith("prepare")}
        nan = (math.nan, math.nan, 0)
        loss, grad = phases.get("loss", nan), phases.get("grad", nan)
        ratio = grad[0] / loss[0] if loss[0] > 0 and not math.isnan(grad[0]) else math.nan
        second: dict[str, float] = {}
        for phase in SECOND_ORDER:
            median, iqr, _ = phases.get(phase, nan)
            second[f"{phase}_s"], second[f"{phase}_iqr_s"] = median, iqr
            second[f"{phase}_ratio"] = median / grad[0] if grad[0] > 0 and \
                not math.isnan(median) else math.nan
        rows.append({"case": case, "engine": engine, "prepare_s": sum(steps.values()),
                     "steps": steps, "loss_s": loss[0], "loss_iqr_s": loss[1],
                     "loss_runs": int(loss[2]), "grad_s": grad[0], "grad_iqr_s": grad[1],
                     "grad_runs": int(grad[2]), "ratio": ratio, **second})
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class PointCounts:
    """The points of a run (a case's own point and its sampled ones), by what the reference
    said there: the verdict line counts them apart, and says "agree" only of graded ones."""

    cases: int = 0
    points: int = 0
    #: The reference certified values and at least one engine was graded against them.
    graded: int = 0
    #: Graded points where every engine graded agrees (no engine's row fails, none is off as
    #: declared).
    agreed: int = 0
    #: Graded points where some engine is off (``mismatch``, ``nan``...) as its case declares.
    declared_off: int = 0
    #: The point is a kink that touches every component: no verdict.
    kink: int = 0
    #: Graded points (counted in ``graded`` too) that are kinks: the components the kink does
    #: not touch were graded as usual, the touched ones against their one-sided derivatives.
    kink_graded: int = 0
    #: The loss or its gradient is undefined there, declared (or allowed) or not.
    undefined_declared: int = 0
    undefined: int = 0
    #: The reference did not settle (or failed): no verdict.
    unresolved: int = 0
    #: The reference has values, but no engine could be graded (unsupported, skipped, an
    #: engine's error, a timeout).
    ungraded: int = 0


#: Statuses of an engine's row that grade it against the reference.
GRADED = frozenset({Status.OK, Status.MISMATCH, Status.NAN})


def point_counts(result: Tables, derivatives: tuple[str, ...] = ("gradient",)) -> PointCounts:
    """How many points were graded, agreed on, kinks, undefined (declared or not), unresolved,
    or not graded at all; from the agreement rows on ``derivatives`` (the gradient's by
    default; :data:`SECOND_ORDER` counts a point of the Hessian and its product once, graded
    where the reference certified either) and the run's declarations."""
    failing = set(result.failing().index)
    agreement = of_derivative(result.agreement, *derivatives)
    by_point: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for label, row in zip(agreement.index, agreement.to_dict("records"), strict=True):
        row["_failing"] = label in failing
        by_point.setdefault((row["case"], row["point"]), []).append(row)
    counts = dict.fromkeys(("graded", "agreed", "declared_off", "kink", "kink_graded",
                            "undefined_declared", "undefined", "unresolved", "ungraded"), 0)
    untouched = _untouched(result.one_sided)
    for (case, point), rows in by_point.items():
        references = [r["status"] for r in rows if r["engine"] == "reference"]
        reference = Status.OK if Status.OK in references else next(iter(references), None)
        if reference == Status.KINK and "gradient" in derivatives \
                and untouched.get((case, point)):
            counts["kink_graded"] += 1  # graded per component: see grading.grade.kink_verdict
            reference = Status.OK
        if reference == Status.OK:
            graded = any(r["engine"] != "reference" and r["status"] in (*GRADED, Status.KINK)
                         for r in rows)
            key = "graded" if graded else "ungraded"
            engines = [r for r in rows if r["engine"] != "reference"]
            if graded and not any(r["_failing"] for r in engines):
                off = any(Status(r["status"]).fails for r in engines)
                counts["declared_off" if off else "agreed"] += 1
        elif reference == Status.KINK:
            key = "kink"
        elif reference == Status.UNDEFINED:
            declared = result.declaration(case, "reference", Status.UNDEFINED)
            key = "undefined_declared" if declared == Status.UNDEFINED else "undefined"
        elif reference in (Status.UNRESOLVED, Status.ERROR):
            key = "unresolved"
        else:
            key = "ungraded"
        counts[key] += 1
    return PointCounts(cases=agreement["case"].nunique(), points=len(by_point), **counts)


def _untouched(one_sided: pd.DataFrame) -> dict[tuple[str, int], bool]:
    """Whether each kink point has a component its kink does not touch (one-sided derivatives
    that agree): there, engines are graded."""
    if one_sided.empty:
        return {}
    differ = touched(one_sided["left"].to_numpy(float), one_sided["right"].to_numpy(float))
    frame = one_sided.assign(untouched=~differ)
    return {(c, int(p)): bool(u) for (c, p), u in
            frame.groupby(["case", "point"])["untouched"].any().items()}


def status_counts(result: Tables, derivative: str = "gradient") -> pd.DataFrame:
    """Engines by status counts (every point of every case) on ``derivative``."""
    agreement = of_derivative(result.agreement, derivative)
    counts = pd.crosstab(agreement["engine"], agreement["status"])
    order = [e for e in result.meta["options"]["engines"] if e in counts.index]
    columns = [s for s in Status.names() if s in counts.columns]
    return counts.reindex(index=order, columns=columns).reset_index()



#: Above this median relative IQR (IQR / median over every loss and grad measurement) the report
#: warns that the timings are noisy.
NOISY_RELATIVE_IQR = 0.25


def timing_noise(result: Tables) -> float:
    """Median over every ``loss`` and ``grad`` measurement of IQR / median (nan when none)."""
    rows = result.timing[result.timing["phase"].isin(["loss", "grad"])
                         & (result.timing["median_s"] > 0)]
    if rows.empty:
        return math.nan
    return float((rows["iqr_s"] / rows["median_s"]).median())


def busy_threshold(cores: int) -> float:
    """Cores other work must keep busy for the timings to be suspect: a quarter of the machine,
    at least half a core."""
    return max(0.5, cores / 4)


def other_work(environment: dict[str, Any]) -> tuple[str, float] | None:
    """How busy other work kept the machine, when busy enough to warn; ``None`` when quiet or
    unknown. diffcmp's own work never counts:

    - ``("cpu", cores)``: the cores other processes kept busy during the run (``other_cpu``),
      at least :func:`busy_threshold`;
    - ``("before", load)``: where that is unknown, the 1-minute load average as the run started,
      at least :func:`busy_threshold`;
    - ``("after", load)``: results written before either was recorded have only the load when
      the run ended, which counts the run itself: at least 1 + cores / 4.
    """
    cores = environment.get("cpu_count") or 1
    threshold = busy_threshold(cores)
    if environment.get("other_cpu") is not None:
        other = float(environment["other_cpu"])
        return ("cpu", other) if other >= threshold else None
    if "load_avg_before" in environment:
        before = environment["load_avg_before"]
        return ("before", before[0]) if before and before[0] >= threshold else None
    load = environment.get("load_avg")
    if load and load[0] >= 1 + cores / 4:
        return "after", load[0]
    return None


def busy_text(environment: dict[str, Any]) -> str:
    """What :func:`other_work` found, as a phrase for a report; ``""`` when the machine was
    quiet or it is unknown."""
    busy = other_work(environment)
    if busy is None:
        return ""
    kind, value = busy
    cores = environment.get("cpu_count", "?")
    if kind == "cpu":
        return (f"other processes kept {value:.1f} of the {cores} logical cores busy during the "
                "run (diffcmp's own work not counted)")
    when, load = ("started", environment["load_avg_before"]) if kind == "before" else \
        ("ended", environment["load_avg"])
    loads = " / ".join(f"{x:g}" for x in load)
    return (f"the load average was {loads} (1 / 5 / 15 minutes) on {cores} logical cores when "
            f"the run {when}")
