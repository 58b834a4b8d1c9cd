"""Reporting: the markdown report a person reads (:func:`render_markdown`)."""

from __future__ import annotations

import math

import pandas as pd

from . import grading
from .results import COLUMNS, Result


def _fmt(value: object, digits: int = 3) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}g}"
    return str(value)


def _seconds(value: float) -> str:
    if not isinstance(value, float) or math.isnan(value):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False) if not frame.empty else "_(none)_"


def verdict(result: Result) -> str:
    """One paragraph: how many cases every engine agrees on, and who is off where."""
    agreement = result.agreement
    cases = list(dict.fromkeys(agreement["case"]))
    engines = [e for e in result.meta["options"]["engines"] if e != "reference"]
    failing = result.failing()
    bad_cases = set(failing["case"])
    lines = [f"All {len(engines)} engines agree with the reference on "
             f"{len(cases) - len(bad_cases)} of {len(cases)} cases"]
    offs = []
    for engine in engines:
        rows = failing[failing["engine"] == engine]
        if not rows.empty:
            names = ", ".join(f"`{c}`" for c in dict.fromkeys(rows["case"]))
            statuses = "/".join(sorted(set(rows["status"])))
            offs.append(f"{engine} is off ({statuses}) on {rows['case'].nunique()}: {names}")
    text = lines[0] + ("; " + "; ".join(offs) if offs else "") + "."
    held = result.expectations
    failed = held[~held["holds"].astype(bool)] if not held.empty else held
    if not failed.empty:
        text += f" {len(failed)} expectation(s) failed: " + ", ".join(
            f"`{r.case}` {r.item} expected {_fmt(r.expected, 12)}, got {_fmt(r.actual, 12)}"
            for r in failed.itertuples()) + "."
    declared = sum(len(v) for v in result.declared.values())
    if declared:
        text += f" {declared} known failure(s) are declared by their cases and shown as expected."
    if not result.errors.empty:
        text += f" {len(result.errors)} case file(s) could not be loaded."
    status = "PASS" if result.exit_code == 0 else "FAIL"
    return f"**{status}.** {text}"


def status_counts(result: Result) -> pd.DataFrame:
    """Engines by status counts (every point of every case)."""
    counts = pd.crosstab(result.agreement["engine"], result.agreement["status"])
    order = [e for e in result.meta["options"]["engines"] if e in counts.index]
    columns = [s for s in grading.STATUSES if s in counts.columns]
    return counts.reindex(index=order, columns=columns).reset_index()


def render_markdown(result: Result) -> str:
    """The whole report as markdown."""
    env = result.meta["environment"]
    parts = ["# diffcmp report", "", verdict(result), ""]
    if not result.agreement.empty:
        parts += ["## Status by engine", "", _table(status_counts(result)), ""]
    parts += ["## Tolerances", "",
              "Each engine's loss and every gradient component are compared with the reference "
              "by the rule ADBench and GradBench use, `rho = |a - b| / max(1, |a| + |b|)`; the "
              "worst component is the `error`, and the engine agrees when it is at most the "
              "tolerance. `[expect]` values are checked against the reference with rho <= "
              f"{grading.EXPECT_TOLERANCE:g} unless the case says otherwise.", "",
              _table(pd.DataFrame([{"engine": name, "tolerance": _fmt(info["tolerance"]),
                                    "computes": info["summary"], "tolerance source":
                                        info["source"]}
                                   for name, info in result.meta["engines"].items()])), ""]
    overrides = result.agreement.merge(
        pd.DataFrame([{"engine": e, "default": i["tolerance"]}
                      for e, i in result.meta["engines"].items()]), on="engine")
    overrides = overrides[overrides["tolerance"] != overrides["default"]]
    if not overrides.empty:
        parts += ["Case overrides: " + ", ".join(
            f"`{c}` {e} {_fmt(t)}" for (c, e), t in
            overrides.groupby(["case", "engine"])["tolerance"].first().items()) + ".", ""]
    parts += ["## Environment", "",
              f"Python {env['python']}, SymPy {env['sympy']}, mpmath {env['mpmath']}, "
              f"NumPy {env['numpy']}, PyTorch {env['torch']} ({env['torch_threads']} "
              f"thread(s)), JAX {env['jax']}, pandas {env['pandas']}; {env['cpu']} "
              f"({env['cpu_count']} cores); dtype {env['dtype']}.", ""]
    if not result.errors.empty:
        parts += ["## Cases that could not be loaded", "",
                  _table(result.errors[["source", "message"]]), ""]
    for case in dict.fromkeys(result.agreement["case"]):
        parts += _case_section(result, case)
    options = result.meta["options"]
    parts += ["---", "",
              f"Run took {_seconds(result.meta['wall_s'])}, of which "
              f"{_seconds(result.meta['measured_s'])} in timed measurements "
              f"(min-time {options['min_time']} s per phase; PyTorch on {options['threads']} "
              f"thread(s)). Results format {result.meta['format']} v"
              f"{result.meta['format_version']}.", ""]
    return "\n".join(parts)


def _case_section(result: Result, case: str) -> list[str]:
    rows = result.agreement[result.agreement["case"] == case]
    declared = result.declared.get(case, {})
    table = rows.assign(
        status=[f"{s} (declared)" if declared.get(e) == s else s
                for e, s in zip(rows["engine"], rows["status"], strict=True)],
        loss=[_fmt(v, 12) for v in rows["loss"]], error=[_fmt(v) for v in rows["error"]],
        rel_error=[_fmt(v) for v in rows["rel_error"]],
        tolerance=[_fmt(v) for v in rows["tolerance"]])
    parts = [f"## `{case}`", ""]
    source = result.meta.get("sources", {}).get(case)
    if source:
        parts += [f"From `{source}`.", ""]
    points = rows["point"].nunique()
    if points > 1:
        parts += [f"{points} points: the case's own (0) and {points - 1} sampled.", ""]
    parts += [_table(table[COLUMNS["agreement"][1:]]), ""]
    expectations = result.expectations[result.expectations["case"] == case]
    if not expectations.empty:
        parts += ["Expectations:", "", _table(expectations[["kind", "item", "expected",
                                                           "actual", "holds"]]), ""]
    timing = result.timing[result.timing["case"] == case]
    if not timing.empty:
        parts += ["Timing (per call; median and IQR):", "", _table(_timing_table(timing)), ""]
    return parts


def _timing_table(timing: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for engine, group in timing.groupby("engine", sort=False):
        phases = dict(zip(group["phase"], zip(group["median_s"], group["iqr_s"], group["runs"],
                                              strict=True), strict=True))
        prepare = sum(m for p, (m, _, _) in phases.items() if p.startswith("prepare"))
        loss, grad = phases.get("loss"), phases.get("grad")
        rows.append({
            "engine": engine, "prepare": _seconds(prepare),
            "loss": f"{_seconds(loss[0])} ± {_seconds(loss[1])}" if loss else "-",
            "grad": f"{_seconds(grad[0])} ± {_seconds(grad[1])}" if grad else "-",
            "grad / loss": f"{grad[0] / loss[0]:.2f}" if loss and grad and loss[0] > 0 else "-",
            "calls": f"{loss[2]} / {grad[2]}" if loss and grad else "-"})
    return pd.DataFrame(rows)
