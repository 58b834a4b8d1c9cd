"""Reporting: the markdown report a person reads (:func:`render_markdown`) and its files.

The report opens with a verdict, a one-row-per-case summary, engines by status, the plots, how the
timings were taken, the tolerances and the environment; then one section per case with its
agreement table, its timing table (with the ``grad / loss`` cost ratio) and its expression sizes.
:func:`write_files` writes ``report.md`` and the plots it links into a folder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from . import grading
from .results import Result
from .timing import BLOCK_S

#: Display rank of a status within one engine's cells: the worst one is shown.
_RANK = {"ok": 0, "kink": 1, "unsupported": 1, "undefined": 2, "mismatch": 3, "nan": 4,
         "error": 5, "timeout": 5}
_DECLARED_MARK = "†"


# -- formatting ----------------------------------------------------------------------------------

def _fmt(value: object, digits: int = 3) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}g}"
    return str(value)


def _number(value: object) -> str:
    """A value in a sentence: 12 significant digits, ``nan`` spelled out."""
    if isinstance(value, float | np.floating):
        return f"{value:.12g}"
    return str(value)


def seconds(value: Any) -> str:
    """A duration with a unit chosen for it: ``1.23 s``, ``45.6 ms``, ``7.89 µs``, ``12 ns``."""
    if not isinstance(value, float | int | np.floating | np.integer) or math.isnan(value):
        return "-"
    value = float(value)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def _cell(value: object) -> str:
    """A table cell: pipes escaped (GitHub needs that even inside code spans), one line."""
    return str(value).replace("\n", " ").replace("|", "\\|")


def _text(value: object) -> str:
    """Free text (an engine's message) shown literally: emphasis marks and tags escaped."""
    return str(value).replace("*", "\\*").replace("_", "\\_").replace("<", "&lt;")


def _table(rows: list[dict[str, object]] | pd.DataFrame, right: Sequence[str] = ()) -> str:
    """A GitHub (pipe) table of preformatted cells; ``right`` names right-aligned columns."""
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict("records")
    if not rows:
        return "_(none)_"
    headers = list(rows[0])
    body = [[_cell(row[h]) for h in headers] for row in rows]
    align = ["right" if h in right else "left" for h in headers]
    return tabulate(body, headers=[_cell(h) for h in headers], tablefmt="pipe",
                    disable_numparse=True, colalign=align)


def anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _engines(result: Result) -> list[str]:
    return [e for e in result.meta["options"]["engines"] if e != "reference"]


def _cases(result: Result) -> list[str]:
    return list(dict.fromkeys(result.agreement["case"]))


# -- tables derived from a result -----------------------------------------------------------------

def worst_status(result: Result) -> pd.DataFrame:
    """One row per case and engine: the worst status over its points, and whether it fails.

    A failing status the case does not declare outranks everything; then by severity.
    """
    rows = []
    for (case, engine), group in result.agreement.groupby(["case", "engine"], sort=False):
        declared = result.declared.get(case, {}).get(engine)
        statuses = list(group["status"])
        worst = max(statuses, key=lambda s: (grading.fails(s, declared), _RANK.get(s, 5)))
        rows.append({"case": case, "engine": engine, "status": worst,
                     "fails": grading.fails(worst, declared), "declared": declared == worst,
                     "error": float(np.nanmax(group["error"])) if group["error"].notna().any()
                     else math.nan, "tolerance": float(group["tolerance"].iloc[0]),
                     "points": len(group), "ok": int((group["status"] == "ok").sum())})
    return pd.DataFrame(rows, columns=["case", "engine", "status", "fails", "declared", "error",
                                       "tolerance", "points", "ok"])


def param_counts(result: Result) -> dict[str, int]:
    """Number of gradient components of each case (from any engine that produced a gradient)."""
    grads = result.gradients
    if grads.empty:
        return {}
    first = grads[grads["point"] == 0].groupby(["case", "engine"]).size()
    return {case: int(n) for case, n in first.groupby(level="case").max().items()}


def cost_table(result: Result) -> pd.DataFrame:
    """One row per timed case and engine: prepare (sum of steps), loss and grad medians and IQRs,
    calls, and the cost ratio ``grad / loss``."""
    columns = ["case", "engine", "prepare_s", "steps", "loss_s", "loss_iqr_s", "loss_runs",
               "grad_s", "grad_iqr_s", "grad_runs", "ratio"]
    rows = []
    for (case, engine), group in result.timing.groupby(["case", "engine"], sort=False):
        phases = {p: (m, q, r) for p, m, q, r in zip(group["phase"], group["median_s"],
                                                     group["iqr_s"], group["runs"], strict=True)}
        steps = {p.removeprefix("prepare: "): m for p, (m, _, _) in phases.items()
                 if p.startswith("prepare")}
        nan = (math.nan, math.nan, 0)
        loss, grad = phases.get("loss", nan), phases.get("grad", nan)
        ratio = grad[0] / loss[0] if loss[0] > 0 and not math.isnan(grad[0]) else math.nan
        rows.append({"case": case, "engine": engine, "prepare_s": sum(steps.values()),
                     "steps": steps, "loss_s": loss[0], "loss_iqr_s": loss[1],
                     "loss_runs": int(loss[2]), "grad_s": grad[0], "grad_iqr_s": grad[1],
                     "grad_runs": int(grad[2]), "ratio": ratio})
    return pd.DataFrame(rows, columns=columns)


# -- the report ----------------------------------------------------------------------------------

def verdict(result: Result, links: bool = True) -> str:
    """One paragraph: how many cases every engine agrees on, and who is off where.

    Case names link to their sections unless ``links`` is false (for a terminal).
    """
    cases = _cases(result)
    engines = _engines(result)
    failing = result.failing()
    bad_cases = set(failing["case"])
    status = "PASS" if result.exit_code == 0 else "FAIL"
    if not cases:
        text = "No case ran."
    else:
        text = (f"All {len(engines)} engines ({', '.join(engines)}) agree with the reference on "
                f"{len(cases) - len(bad_cases)} of {len(cases)} cases")
        # engines off on the same cases in the same way are named together
        groups: dict[tuple[tuple[str, ...], str], list[str]] = {}
        for engine in engines:
            rows = failing[failing["engine"] == engine]
            if not rows.empty:
                key = (tuple(dict.fromkeys(rows["case"])), "/".join(sorted(set(rows["status"]))))
                groups.setdefault(key, []).append(engine)
        offs = []
        for (off_cases, statuses), names in groups.items():
            who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            named = ", ".join(f"[`{c}`](#{anchor(c)})" if links else c for c in off_cases)
            offs.append(f"{who} {'is' if len(names) == 1 else 'are'} off ({statuses}) on "
                        f"{len(off_cases)}: {named}")
        text += ("; " + "; ".join(offs) if offs else "") + "."
    unsupported = result.agreement[result.agreement["status"].isin(["unsupported", "kink",
                                                                     "undefined"])]
    if not unsupported.empty:
        parts = [f"{s} {unsupported[unsupported['status'] == s]['case'].nunique()}"
                 for s in ("unsupported", "kink", "undefined")
                 if (unsupported["status"] == s).any()]
        text += (" Cases where an engine gives no verdict (engine cannot express the loss, the "
                 "point is a kink, or the reference itself is not finite): "
                 + ", ".join(parts) + ".")
    held = result.expectations
    failed = held[~held["holds"].astype(bool)] if not held.empty else held
    if not failed.empty:
        text += f" {len(failed)} expectation(s) failed: " + ", ".join(
            f"`{r.case}` {r.item} expected {_number(r.expected)}, got {_number(r.actual)}"
            for r in failed.itertuples()) + "."
    declared = sum(len(v) for v in result.declared.values())
    if declared:
        text += (f" {declared} known failure(s) are declared by their cases and count as "
                 f"expected (marked {_DECLARED_MARK}).")
    if not result.errors.empty:
        text += f" {len(result.errors)} case file(s) could not be loaded."
    return f"**{status}.** {text}"


def status_counts(result: Result) -> pd.DataFrame:
    """Engines by status counts (every point of every case)."""
    counts = pd.crosstab(result.agreement["engine"], result.agreement["status"])
    order = [e for e in result.meta["options"]["engines"] if e in counts.index]
    columns = [s for s in grading.STATUSES if s in counts.columns]
    return counts.reindex(index=order, columns=columns).reset_index()


def _status_cell(row: Any) -> str:
    text = row.status + (_DECLARED_MARK if row.declared else "")
    return f"**{text}**" if row.fails else text


def summary_table(result: Result) -> list[dict[str, object]]:
    """One row per case: parameter count, each engine's worst status, expression sizes."""
    worst = worst_status(result)
    sizes = result.expressions.set_index("case") if not result.expressions.empty else None
    counts = param_counts(result)
    rows = []
    for case in _cases(result):
        cells = {row.engine: _status_cell(row) for row in worst[worst["case"] == case]
                 .itertuples()}
        row: dict[str, object] = {"case": f"[`{case}`](#{anchor(case)})",
                                  "n": counts.get(case, "?")}
        for engine in _engines(result):
            row[engine] = cells.get(engine, "-")
        if sizes is not None and case in sizes.index:
            size = sizes.loc[case]
            row["grad ops → cse"] = f"{int(size['grad_ops'])} → {int(size['grad_cse_ops'])}"
        else:
            row["grad ops → cse"] = "-"
        rows.append(row)
    return rows


def _cost_summary(costs: pd.DataFrame, engines: Sequence[str]) -> list[dict[str, object]]:
    rows = []
    for engine in engines:
        group = costs[(costs["engine"] == engine) & costs["ratio"].notna()]
        if group.empty:
            continue
        rows.append({"engine": engine, "cases timed": str(len(group)),
                     "grad (median over cases)": seconds(float(group["grad_s"].median())),
                     "grad / loss: median": f"{group['ratio'].median():.2f}",
                     "min": f"{group['ratio'].min():.2f}", "max": f"{group['ratio'].max():.2f}"})
    return rows


def render_markdown(result: Result, plots: Sequence[str] = ()) -> str:
    """The whole report as markdown; ``plots`` are image files beside it to link."""
    options = result.meta["options"]
    parts = ["# diffcmp report", "", verdict(result), ""]
    if not result.agreement.empty:
        parts += ["## Summary", "",
                  "Worst status of each engine over the case's points (**bold**: fails the run; "
                  f"{_DECLARED_MARK}: a known failure the case declares). `n`: parameters. "
                  "`grad ops → cse`: operations in the SymPy gradient's expression trees (counted "
                  "as `count_ops` does, shared subtrees every time they occur) before and after "
                  "common subexpression elimination.", "",
                  _table(summary_table(result), right=("n", "grad ops → cse")), "",
                  "## Status by engine", "", "One count per engine and point.", "",
                  _table(status_counts(result).astype(str),
                         right=[s for s in grading.STATUSES]), ""]
    titles = _plot_titles()
    if plots:
        parts += ["## Plots", ""]
        for name in plots:
            parts += [f"![{titles.get(name, name)}]({name})", ""]
    if options.get("timing", True) and not result.timing.empty:
        parts += _timing_section(result)
    parts += _tolerance_section(result)
    parts += _environment_section(result)
    if not result.errors.empty:
        parts += ["## Cases that could not be loaded", "",
                  _table([{"source": f"`{r.source}`", "message": _text(r.message)}
                          for r in result.errors.itertuples()]), ""]
    cases = _cases(result)
    if cases:
        parts += ["## Cases", ""]
        costs = cost_table(result)
        counts = param_counts(result)
        worst = worst_status(result)
        for case in cases:
            parts += _case_section(result, case, costs, counts.get(case), worst)
    parts += ["---", "",
              f"Run took {seconds(result.meta['wall_s'])}, of which "
              f"{seconds(result.meta['measured_s'])} in timed measurements "
              f"(min-time {options['min_time']} s per phase; PyTorch on {options['threads']} "
              f"thread(s)). Results format {result.meta['format']} v"
              f"{result.meta['format_version']}.", ""]
    return "\n".join(parts)


def _timing_section(result: Result) -> list[str]:
    options = result.meta["options"]
    threads = options["threads"]
    parts = ["## Timing", "",
             f"Times are per call, measured after a warm-up call in blocks of calls that each last "
             f"at least {seconds(BLOCK_S)}, until at least {options['min_time']} s per phase; the "
             "tables give the median over blocks and the interquartile range (IQR) as a share of "
             "it, and the number of calls. The garbage collector is paused during blocks (as "
             "`timeit` does), JAX results are waited for (`block_until_ready`), and PyTorch runs "
             f"on {threads} thread{'s' if threads != 1 else ''} (`--threads`); NumPy and XLA use "
             "their own defaults. `prepare` is every step before the first timed call (SymPy "
             "derivation from a cleared cache and `cse`, `lambdify`, building the op graph, JAX "
             "trace and XLA compile, the first call) and is never part of `loss` or `grad`.", "",
             "**What `grad / loss` should be.** Reverse mode (`torch`, `jax`) costs a small "
             "constant times the loss, at most about 5 in theory (the cheap gradient principle: "
             "Baur & Strassen 1983; Griewank & Walther, *Evaluating Derivatives*, 2nd ed., "
             "2008, ch. 4); on tiny "
             "losses per-call framework overhead dominates both phases. `fd-central` needs "
             "2n + 1 loss calls for n parameters and `fd-complex` n + 1 complex ones (each a "
             "few times a real call), so their ratio grows with n. `sympy` and `reference` "
             "evaluate the loss and the whole gradient in one `cse`'d function, so theirs shows "
             "the expression swell.", ""]
    note = noise_note(result)
    if note:
        parts += [note, ""]
    summary = _cost_summary(cost_table(result), result.meta["options"]["engines"])
    if summary:
        parts += [_table(summary, right=[k for k in summary[0] if k != "engine"]), ""]
    return parts


#: Above this median relative IQR (IQR / median over every loss and grad measurement) the report
#: warns that the timings are noisy.
NOISY_RELATIVE_IQR = 0.25


def timing_noise(result: Result) -> float:
    """Median over every ``loss`` and ``grad`` measurement of IQR / median (nan when none)."""
    rows = result.timing[result.timing["phase"].isin(["loss", "grad"])
                         & (result.timing["median_s"] > 0)]
    if rows.empty:
        return math.nan
    return float((rows["iqr_s"] / rows["median_s"]).median())


def busy_load(environment: dict[str, Any]) -> list[float] | None:
    """The run's load averages when the machine was busy (1-minute load at least 1 + cores / 4:
    more than diffcmp itself and a quarter of the cores); ``None`` when quiet or unknown."""
    load = environment.get("load_avg")
    cores = environment.get("cpu_count") or 1
    if load and load[0] >= 1 + cores / 4:
        return list(load)
    return None


def noise_note(result: Result) -> str:
    """A warning when the timings are noisy or the machine was busy; else ``""``."""
    env = result.meta.get("environment", {})
    noise = timing_noise(result)
    reasons = []
    if not math.isnan(noise) and noise > NOISY_RELATIVE_IQR:
        reasons.append(f"the typical measurement's IQR is {noise:.0%} of its median "
                       f"(above {NOISY_RELATIVE_IQR:.0%})")
    load = busy_load(env)
    if load and not math.isnan(noise):
        reasons.append(f"the load average was {load[0]:g} / {load[1]:g} / {load[2]:g} "
                       f"(1 / 5 / 15 minutes) on {env.get('cpu_count', '?')} logical cores "
                       "when the run ended")
    if not reasons:
        return ""
    text = "; ".join(reasons)
    return (f"**Noisy timings.** {text[0].upper()}{text[1:]}: other work shared the CPU. "
            "Medians over short blocks resist brief interruptions, not a machine that is busy "
            "throughout; rerun on a quiet machine before quoting these times.")


def _tolerance_section(result: Result) -> list[str]:
    parts = ["## Tolerances", "",
             "Each engine's loss and every gradient component are compared with the reference by "
             "the rule ADBench and GradBench use, `rho = |a - b| / max(1, |a| + |b|)`: relative "
             "for large values, absolute near zero. The worst component is the `error`, and the "
             "engine agrees when it is at most the tolerance. `[expect]` values are checked "
             f"against the reference with rho <= {grading.EXPECT_TOLERANCE:g} unless the case "
             "says otherwise.", "",
             _table([{"engine": name, "tolerance": _fmt(info["tolerance"]),
                      "computes": info["summary"], "source of the tolerance": info["source"]}
                     for name, info in result.meta["engines"].items()], right=("tolerance",)),
             ""]
    if not result.agreement.empty:
        defaults = pd.DataFrame([{"engine": e, "default": i["tolerance"]}
                                 for e, i in result.meta["engines"].items()])
        overrides = result.agreement.merge(defaults, on="engine")
        overrides = overrides[overrides["tolerance"] != overrides["default"]]
        if not overrides.empty:
            parts += ["Case overrides: " + ", ".join(
                f"`{c}` {e} {_fmt(t)}" for (c, e), t in
                overrides.groupby(["case", "engine"], sort=False)["tolerance"].first().items())
                + ".", ""]
    return parts


def _environment_section(result: Result) -> list[str]:
    env = result.meta["environment"]
    libraries = ", ".join(f"{label} {env.get(key, '?')}" for label, key in (
        ("diffcmp", "diffcmp"), ("SymPy", "sympy"), ("mpmath", "mpmath"), ("NumPy", "numpy"),
        ("PyTorch", "torch"), ("JAX", "jax"), ("pandas", "pandas")))
    lines = ["## Environment", "",
             f"- Python {env.get('python', '?')} on {env.get('platform', '?')}",
             f"- {libraries}",
             f"- CPU: {env.get('cpu', '?')}, {env.get('cpu_count', '?')} logical cores",
             f"- PyTorch threads: {env.get('torch_threads', '?')}; dtype "
             f"{env.get('dtype', '?')} everywhere (JAX with x64 enabled locally)"]
    load = env.get("load_avg")
    if load:
        lines.append(f"- Load average when the run ended: {load[0]:g} / {load[1]:g} / "
                     f"{load[2]:g} (1 / 5 / 15 minutes)")
    return [*lines, ""]


def _agreement_rows(result: Result, case: str, worst: pd.DataFrame) -> list[dict[str, object]]:
    rows = result.agreement[result.agreement["case"] == case]
    first = rows[rows["point"] == 0]
    points = rows["point"].nunique()
    declared = result.declared.get(case, {})
    table = []
    for row in first.itertuples():
        mark = _DECLARED_MARK if declared.get(row.engine) == row.status else ""
        failing = grading.fails(row.status, declared.get(row.engine))
        status = f"**{row.status}{mark}**" if failing else row.status + mark
        entry: dict[str, object] = {
            "engine": row.engine, "status": status, "loss": _fmt(row.loss, 12),
            "error": _fmt(row.error), "tolerance": _fmt(row.tolerance)}
        if points > 1:
            summary = worst[(worst["case"] == case) & (worst["engine"] == row.engine)]
            if not summary.empty:
                s = summary.iloc[0]
                others = rows[rows["engine"] == row.engine]["status"].value_counts()
                entry[f"all {points} points"] = ", ".join(f"{n} {st}" for st, n in others.items())
                entry["worst error"] = _fmt(s["error"])
        message = row.message if row.status != "ok" and row.engine != "reference" else ""
        if points > 1 and row.status == "ok":
            bad = rows[(rows["engine"] == row.engine) & (rows["status"] != "ok")]
            if not bad.empty:
                message = f"point {bad.iloc[0]['point']}: {bad.iloc[0]['message']}"
        entry["message"] = _text(message)
        table.append(entry)
    return table


def _timing_rows(costs: pd.DataFrame) -> list[dict[str, object]]:
    rows = []
    for row in costs.itertuples():
        def timed(median: float, iqr: float) -> str:
            if math.isnan(median):
                return "-"
            return f"{seconds(median)} ({iqr / median:.0%})" if median > 0 else seconds(median)

        rows.append({
            "engine": row.engine, "prepare": seconds(row.prepare_s),
            "prepare steps": ", ".join(f"{k} {seconds(v)}" for k, v in row.steps.items()),
            "loss (IQR)": timed(row.loss_s, row.loss_iqr_s),
            "grad (IQR)": timed(row.grad_s, row.grad_iqr_s),
            "grad / loss": "-" if math.isnan(row.ratio) else f"{row.ratio:.2f}",
            "calls": f"{row.loss_runs} / {row.grad_runs}"})
    return rows


def _case_section(result: Result, case: str, costs: pd.DataFrame, n: int | None,
                  worst: pd.DataFrame) -> list[str]:
    parts = [f"### `{case}`", ""]
    facts = []
    source = result.meta.get("sources", {}).get(case)
    if source:
        facts.append(f"From `{source}`.")
    if n:
        facts.append(f"{n} parameter{'s' if n != 1 else ''}: central differences take "
                     f"2n + 1 = {2 * n + 1} loss calls per gradient, complex step n + 1 = "
                     f"{n + 1}.")
    sizes = result.expressions[result.expressions["case"] == case]
    if not sizes.empty:
        s = sizes.iloc[0]
        how = {"reverse": "by symbolic reverse mode", "diff": "with sympy.diff per parameter"}
        method = how.get(str(s.get("method", "")), "")
        facts.append(f"Expression sizes (operations): loss {int(s['loss_ops'])}, gradient "
                     f"{int(s['grad_ops'])}, gradient after `cse` {int(s['grad_cse_ops'])}; "
                     f"derived {method} in {seconds(float(s['derive_s']))}.".replace("  ", " "))
    points = result.agreement[result.agreement["case"] == case]["point"].nunique()
    if points > 1:
        facts.append(f"{points} points: the case's own (shown) and {points - 1} sampled.")
    if facts:
        parts += [" ".join(facts), ""]
    agreement = _agreement_rows(result, case, worst)
    parts += [_table(agreement, right=("loss", "error", "tolerance", "worst error")), ""]
    case_costs = costs[costs["case"] == case]
    if not case_costs.empty:
        parts += [_table(_timing_rows(case_costs),
                         right=("prepare", "loss (IQR)", "grad (IQR)", "grad / loss", "calls")),
                  ""]
    expectations = result.expectations[result.expectations["case"] == case]
    if not expectations.empty:
        failed = int((~expectations["holds"].astype(bool)).sum())
        label = (f"Expectations: {len(expectations) - failed} of {len(expectations)} hold"
                 + (f", **{failed} failed**" if failed else ""))
        table = _table([{"kind": r.kind, "item": r.item, "expected": _fmt(r.expected, 12),
                         "actual": _fmt(r.actual, 12), "holds": "yes" if r.holds else "**no**"}
                        for r in expectations.itertuples()], right=("expected", "actual"))
        parts += ["<details>", f"<summary>{label}</summary>", "", table, "", "</details>", ""]
    return parts


# -- files ---------------------------------------------------------------------------------------

def _plot_titles() -> dict[str, str]:
    from .plots import PLOTS

    return {name: title for name, title in PLOTS}


def write_files(result: Result, folder: str | Path, plots: bool = True) -> list[str]:
    """Write the plots and ``report.md`` (linking them) into ``folder``; return the file names."""
    folder = Path(folder)
    names: list[str] = []
    if plots:
        from .plots import write_plots

        names = write_plots(result, folder)
    (folder / "report.md").write_text(render_markdown(result, names), encoding="utf-8")
    return ["report.md", *names]


__all__ = ["anchor", "cost_table", "param_counts", "render_markdown", "seconds", "status_counts",
           "summary_table", "verdict", "worst_status", "write_files"]
