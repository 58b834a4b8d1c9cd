"""A sweep's report folder, written whole like a run's (:func:`write_sweep_report`):

- ``sweep.csv``: case, size, engine, phase (prepare, loss, grad; hessian and hvp with
  ``--order 2``), median_s, iqr_s, status;
- ``agreement.csv``: every size's agreement rows (a ``size`` column first);
- ``sweep_prepare.png``, ``sweep_loss.png``, ``sweep_grad.png``: time against size on log-log
  axes, one line per engine, its fitted exponent in the legend (as ADBench's and GradBench's
  plots draw time against size), and ``sweep_hessian.png``, ``sweep_hvp.png`` at second order;
- ``sweep_forward_reverse.png``: forward against reverse mode gradients (:mod:`.sweep_second`);
- ``sweep.md``: the verdict, the exponents, each engine's status at each size, the plots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tabulate import tabulate

from ..results.format import seconds
from ..results.sweep import SweepResult
from ..run.sweep import SizeRun
from ..status import Status
from .blocks import fmt, table, text
from .folder import write_folder, write_new_folder
from .plots import COLORS, DPI, MARKERS
from .sweep_second import (
    exponent_text,
    forward_reverse_section,
    second_order_sections,
    write_forward_reverse_plot,
)

#: What each phase's plot shows.
PHASE_TITLES = {"prepare": "preparation (every step: derive, compile, trace...)",
                "loss": "one loss evaluation", "grad": "one gradient (with the loss)",
                "hessian": "one full Hessian", "hvp": "one Hessian-vector product"}


def plot_name(phase: str) -> str:
    """The file name of ``phase``'s plot."""
    return f"sweep_{phase}.png"


def sweep_figure(result: SweepResult, phase: str) -> Figure | None:
    """Time per call of ``phase`` against the size, log-log, one line per engine that was timed
    there, the fitted exponent in the legend; ``None`` when nothing was timed."""
    data = result.table
    data = data[(data["phase"] == phase) & (data["median_s"] > 0)]
    if data.empty:
        return None
    exponents = result.exponents
    figure = Figure(figsize=(10, 5.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for engine in result.engines:
        rows = data[data["engine"] == engine]
        if rows.empty:
            continue
        fitted = exponents[(exponents["engine"] == engine) & (exponents["phase"] == phase)]
        label = f"{engine}  {exponent_text(*_exponents(fitted))}"
        median = rows["median_s"].to_numpy(dtype=float)
        spread = 1 + np.nan_to_num(rows["iqr_s"].to_numpy(dtype=float)) / median
        axes.errorbar(rows["size"].to_numpy(dtype=float), median,
                      yerr=[median - median / spread, median * spread - median],
                      color=COLORS.get(engine, "#17becf"), marker=MARKERS.get(engine, "o"),
                      markersize=5, linewidth=1.4, elinewidth=1, capsize=0, label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.grid(which="major", alpha=0.3)
    axes.set_xlabel(f"{result.size_name} (log)")
    axes.set_ylabel("seconds per call (log; median, bar: IQR)" if phase != "prepare"
                    else "seconds (log)")
    axes.set_title(f"{result.case}: {PHASE_TITLES[phase]} against {result.size_name}")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                title="engine  exponent\n(between the two\nlargest sizes)")
    return figure


def write_sweep_plots(result: SweepResult, folder: str | Path) -> list[str]:
    """Write each phase's plot the sweep has times for into ``folder``; return the names."""
    names = []
    for phase in result.phases:
        figure = sweep_figure(result, phase)
        if figure is not None:
            figure.savefig(Path(folder) / plot_name(phase), dpi=DPI, metadata={"Software": None})
            names.append(plot_name(phase))
    return names + write_forward_reverse_plot(result, folder)


def sweep_verdict(result: SweepResult) -> str:
    """One line: PASS when every engine agrees at every size, else who is off where."""
    sizes = result.sizes
    span = _span(result.size_name, sizes)
    if not result.errors.empty:
        bad = ", ".join(f"{int(s):,}" for s in result.errors["size"])
        return f"**FAIL**: the case could not be made at {result.size_name} = {bad}."
    failing = result.failing()
    expectations = result.expectations
    failed_expect = expectations[~expectations["holds"].astype(bool)] \
        if not expectations.empty else expectations
    engines = [e for e in result.engines if e != "reference"]
    if failing.empty and failed_expect.empty:
        who = f"all {len(engines)} engines ({', '.join(engines)}) agree" if len(engines) > 1 \
            else f"the engine {''.join(engines)} agrees"
        return (f"**PASS**: {who} with the reference at every size ({span}; {len(sizes)} "
                "sizes), or says why not (skipped, unsupported).")
    parts = [f"{row.engine} {row.status} at {result.size_name} = {int(row.size):,}"
             for row in failing.drop_duplicates(["size", "engine"]).itertuples()]
    parts += [f"expect {row.kind} {row.item} at {result.size_name} = {int(row.size):,}"
              for row in failed_expect.itertuples()]
    shown = "; ".join(parts[:8]) + (f"; and {len(parts) - 8} more" if len(parts) > 8 else "")
    return f"**FAIL** ({span}): {shown}."


def render_sweep_markdown(result: SweepResult, plots: Sequence[str] = ()) -> str:
    """``sweep.md``: verdict, exponents, status per size, notes, the plots, settings."""
    n = result.size_name
    lines = [f"# Sweep: {result.case}, {_span(n, result.sizes)}", "", sweep_verdict(result), ""]
    if result.meta.get("description"):
        lines += [text(result.meta["description"]), ""]
    lines += ["## Exponents", "",
              f"The slope of log time against log {n}, fitted over the sizes where the engine "
              f"was timed: 1 is a cost linear in {n}, 2 quadratic. At small sizes a call's "
              "fixed overhead dominates, which flattens the slope; in brackets, the slope "
              "between the two largest of those sizes, where it weighs least.", "",
              table(_exponent_rows(result), right=result.phases), ""]
    lines += forward_reverse_section(result)
    lines += ["## Agreement per size", "",
              "Each engine's worst status over the points at each size, with its worst error "
              "(graded as in `diffcmp run`)"
              + ("; the gradient's, second derivatives below." if result.second_order
                 else "."), "", table(_status_rows(result)), ""]
    lines += second_order_sections(result)
    notes = _notes(result)
    if notes:
        lines += ["Notes:", "", *notes, ""]
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{name}]({name})" for name in plots] + [""]
    lines += ["## Settings", "", _settings(result), ""]
    return "\n".join(lines)


def write_sweep_report(result: SweepResult, out: str | Path | None = None,
                       force: bool = False, parent: str | Path = "reports") -> Path:
    """Write the sweep's folder whole (see the module docstring) to ``out``, or to a new
    ``parent/sweep-YYYYmmdd-HHMMSS``; return the folder. ``out`` follows ``diffcmp run``'s
    rules: new, empty, or an earlier diffcmp report and ``force``."""
    def write(folder: Path) -> list[str]:
        names = write_sweep_plots(result, folder)
        result.table.to_csv(folder / "sweep.csv", index=False)
        result.agreement.to_csv(folder / "agreement.csv", index=False)
        (folder / "sweep.md").write_text(render_sweep_markdown(result, names),
                                         encoding="utf-8")
        return ["sweep.md", "sweep.csv", "agreement.csv", *names]

    if out is not None:
        return write_folder(out, write, force)
    return write_new_folder(parent, "sweep", lambda target: write_folder(target, write))


def sweep_summary(result: SweepResult, folder: Path | None = None) -> str:
    """What the command line prints: the verdict, the exponent table, the report's path."""
    lines = [sweep_verdict(result).replace("**", ""), "",
             f"exponents (slope of log time against log {result.size_name}; in brackets, "
             "between the two largest sizes):",
             tabulate(_exponent_rows(result), headers="keys", tablefmt="plain",
                      disable_numparse=True)]
    lines += [f"  {line}" for line in _notes(result)]
    if folder is not None:
        lines.append(f"report: {folder / 'sweep.md'}")
    return "\n".join(lines)


def size_line(run: SizeRun) -> str:
    """One line per finished size for the terminal: ``n = 1,000: all agree (3.2 s)``, or each
    engine's first status that is not ``ok``, or why the case could not be made."""
    if run.result.load_error:
        return run.result.load_error
    worst: dict[str, str] = {}
    for row in run.result.agreement:
        derivative = row.get("derivative", "gradient")
        if derivative == "gradient":
            if worst.get(row["engine"], Status.OK) == Status.OK:
                worst[row["engine"]] = row["status"]
        elif Status(row["status"]).fails:  # second order: only what fails is news
            key = f"{row['engine']} {derivative}"
            worst.setdefault(key, row["status"])
    others = [f"{engine} {status}" for engine, status in worst.items() if status != Status.OK]
    what = ", ".join(others) if others else "all agree" if worst else "not run"
    return f"{run.name} = {run.size:,}: {what} ({seconds(run.wall_s)})"


def _span(name: str, sizes: Sequence[int]) -> str:
    if not sizes:
        return f"no {name}"
    if len(sizes) == 1:
        return f"{name} = {sizes[0]:,}"
    return f"{name} = {sizes[0]:,} to {sizes[-1]:,}"


def _exponent_rows(result: SweepResult) -> list[dict[str, object]]:
    exponents = result.exponents
    rows = []
    for engine in result.engines:
        row: dict[str, object] = {"engine": engine}
        fitted: list[int] = []
        for phase in result.phases:
            part = exponents[(exponents["engine"] == engine) & (exponents["phase"] == phase)]
            row[phase] = exponent_text(*_exponents(part))
            fitted = max(fitted, list(part["sizes"].iloc[0]), key=len)
        row[f"timed at {result.size_name}"] = _sizes_text(fitted)
        rows.append(row)
    return rows


def _exponents(part: pd.DataFrame) -> tuple[float, float]:
    """(exponent, top) of one engine and phase's row of :attr:`SweepResult.exponents`."""
    if part.empty:
        return math.nan, math.nan
    return float(part["exponent"].iloc[0]), float(part["top"].iloc[0])


def _sizes_text(sizes: Sequence[int]) -> str:
    if not sizes:
        return "-"
    return ", ".join(f"{s:,}" for s in sizes)


def _status_rows(result: SweepResult) -> list[dict[str, object]]:
    statuses = result.statuses
    rows = []
    for size in result.sizes:
        row: dict[str, object] = {result.size_name: f"{size:,}"}
        here = statuses[statuses["size"] == size]
        for engine in result.engines:
            match = here[here["engine"] == engine]
            if match.empty:
                row[engine] = "-"
                continue
            item = match.iloc[0]
            cell = str(item["status"])
            if item["status"] == Status.OK and engine != "reference" and \
                    not math.isnan(item["error"]):
                cell += f" {fmt(float(item['error']), 2)}"
            row[engine] = f"**{cell}**" if item["fails"] else cell
        wall = result.meta.get("size_walls", {}).get(size)
        row["wall time"] = seconds(wall) if wall is not None else "-"
        rows.append(row)
    return rows


def _notes(result: SweepResult) -> list[str]:
    """One line per engine and status that is not ``ok`` (its first size and message), and
    each size the case could not be made at."""
    notes = []
    statuses = result.statuses
    seen: set[tuple[str, str]] = set()
    for row in statuses.itertuples():
        key = (row.engine, row.status)
        if row.status == Status.OK or key in seen:
            continue
        seen.add(key)
        sizes = statuses[(statuses["engine"] == row.engine)
                         & (statuses["status"] == row.status)]["size"]
        where = _sizes_text([int(s) for s in sizes])
        message = f": {text(row.message)}" if row.message else ""
        notes.append(f"- {row.engine} is {row.status} at {result.size_name} = {where}"
                     f"{message}")
    for row in result.errors.itertuples():
        notes.append(f"- at {result.size_name} = {int(row.size):,}: {text(row.message)}")
    return notes


def _settings(result: SweepResult) -> str:
    options = result.meta.get("options", {})
    timing = (f"timed, at least {options.get('min_time', 0):g} s per phase"
              if options.get("timing") else "not timed (--no-timing)")
    timeout = result.meta.get("timeout")
    environment = result.meta.get("environment", {})
    load = environment.get("load_avg")
    parts = [f"Engines: {', '.join(result.engines)}; {timing}",
             f"each size in a worker process, stopped after {timeout:g} s" if timeout
             else "in this process, no time limit",
             f"PyTorch on {options.get('threads', 1)} thread(s)",
             f"sweep wall time {seconds(result.meta.get('wall_s'))}"]
    if load:
        parts.append(f"load average {load[0]:g} on {environment.get('cpu_count')} cores")
    if result.source:
        parts.append(f"case file `{result.source}`")
    return "; ".join(parts) + ". Generated data are drawn again at each size from the case's " \
        "seeds (NumPy's `default_rng(seed)`, or `RandomState(seed)` with `rng = \"legacy\"`)."


__all__ = ["plot_name", "render_sweep_markdown", "size_line", "sweep_figure", "sweep_summary",
           "sweep_verdict", "write_sweep_plots", "write_sweep_report"]
