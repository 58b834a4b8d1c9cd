"""Plots of a run (PNG, matplotlib's Agg canvas; no pyplot, no global state).

Three figures, written beside ``report.md`` and linked from it:

- ``errors.png``: each engine's worst error on each case, on a log axis, with its tolerance;
- ``grad_time.png``: each engine's ``grad`` time per call on each case (median, IQR bar);
- ``grad_loss_ratio.png``: each engine's ``grad / loss`` cost ratio against the number of
  parameters, with the costs theory predicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..registry import ENGINE_NAMES
from ..results.derived import cost_table, param_counts, worst_status
from ..results.tables import Tables

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn: workers never draw
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: File name and title of each plot, in report order.
PLOTS: tuple[tuple[str, str], ...] = (
    ("errors.png", "Error against the high-precision reference, per case and engine"),
    ("grad_time.png", "Gradient time per call, per case and engine"),
    ("grad_loss_ratio.png", "Cost of a gradient in losses: grad / loss against parameters"),
)

#: Errors of exactly zero are drawn here (a log axis has no zero).
ERROR_FLOOR = 1e-18
#: Colours and markers by registry order, so an engine looks the same in every plot and report
#: and a newly registered engine gets its own without an edit here.
COLORS = dict(zip(ENGINE_NAMES, ("#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                 "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#aec7e8",
                                 "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"),
                   strict=False))
MARKERS = dict(zip(ENGINE_NAMES, "soD^vPXh*d<>pH8", strict=False))
DPI = 100


def _color(engine: str) -> str:
    return COLORS.get(engine, "#17becf")


def _marker(engine: str) -> str:
    return MARKERS.get(engine, "o")


def _case_layout(frame: pd.DataFrame) -> tuple[list[str], list[str], dict[str, int],
                                                 dict[str, float]]:
    """Cases (one row each, in order), engines, each case's row and each engine's offset."""
    cases = list(dict.fromkeys(frame["case"]))
    engines = list(dict.fromkeys(frame["engine"]))
    return cases, engines, {c: i for i, c in enumerate(cases)}, _offsets(engines)


def _figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _case_figure(n_cases: int) -> tuple[Figure, Axes]:
    figure = _figure(10, max(3.5, 0.26 * n_cases + 1.8))
    return figure, figure.add_subplot()


def _offsets(engines: Sequence[str]) -> dict[str, float]:
    """Vertical offsets that keep engines' markers on one case row apart."""
    span = 0.6
    if len(engines) < 2:
        return dict.fromkeys(engines, 0.0)
    return {e: -span / 2 + span * i / (len(engines) - 1) for i, e in enumerate(engines)}


def _case_axis(axes: Axes, cases: Sequence[str]) -> None:
    axes.set_yticks(range(len(cases)), cases, fontsize=8)
    axes.set_ylim(len(cases) - 0.5, -0.5)  # first case on top, as in the report
    axes.grid(axis="x", which="major", alpha=0.3)
    for y in range(len(cases)):
        if y % 2:
            axes.axhspan(y - 0.5, y + 0.5, color="#f2f2f2", zorder=0)


def error_figure(result: Tables) -> Figure | None:
    """Worst error over the points of each case, per engine, with the tolerances drawn."""
    from matplotlib.lines import Line2D

    worst = worst_status(result, "gradient")
    worst = worst[worst["engine"] != "reference"]
    if worst.empty:
        return None
    cases, engines, rows, offsets = _case_layout(worst)
    figure, axes = _case_figure(len(cases))
    top = 1e2
    for engine in engines:
        group = worst[worst["engine"] == engine]
        finite = group[group["error"].notna()]
        y = [rows[c] + offsets[engine] for c in finite["case"]]
        x = np.maximum(finite["error"].to_numpy(dtype=float), ERROR_FLOOR)
        axes.scatter(x, y, color=_color(engine), marker=_marker(engine), s=22, zorder=3,
                     label=engine)
        failed = group[group["error"].isna() & group["status"].isin(["nan", "error",
                                                                     "timeout", "mismatch"])]
        if not failed.empty:
            axes.scatter([top] * len(failed), [rows[c] + offsets[engine] for c in failed["case"]],
                         color=_color(engine), marker="x", s=30, zorder=3)
    defaults = {e: info["tolerance"] for e, info in result.meta["engines"].items()
                if e in engines}
    styles = ["--", ":", "-.", (0, (5, 1, 1, 1))]
    handles = []
    for i, tolerance in enumerate(sorted(set(defaults.values()))):
        names = [e for e, t in defaults.items() if t == tolerance]
        color = _color(names[0]) if len(names) == 1 else "black"
        axes.axvline(tolerance, color=color, linestyle=styles[i % len(styles)], linewidth=1.2,
                     zorder=2)
        handles.append(Line2D([], [], color=color, linestyle=styles[i % len(styles)],
                              label=f"tolerance {tolerance:g} ({', '.join(names)})"))
    overrides = worst[worst["tolerance"] != worst["engine"].map(defaults)]
    if not overrides.empty:
        axes.scatter(overrides["tolerance"], [rows[c] + offsets[e] for c, e in
                                              zip(overrides["case"], overrides["engine"],
                                                  strict=True)],
                     color=[_color(e) for e in overrides["engine"]], marker="|", s=160,
                     linewidths=2, zorder=3)
        handles.append(Line2D([], [], color="black", marker="|", linestyle="none",
                              markersize=12, label="tolerance set by the case"))
    for case in cases:
        group = worst[worst["case"] == case]
        if group["error"].isna().all():
            statuses = ", ".join(dict.fromkeys(group["status"]))
            axes.text(ERROR_FLOOR, rows[case], f"  no error to draw: {statuses}", fontsize=7,
                      color="#555555", va="center")
    handles.append(Line2D([], [], color="black", marker="x", linestyle="none",
                          label="no finite value (nan, error)"))
    axes.set_xscale("log")
    axes.set_xlim(ERROR_FLOOR / 3, top * 3)
    _case_axis(axes, cases)
    axes.set_xlabel(f"error = |a - b| / max(floor, |a| + |b|), worst component and point\n"
                    f"(log scale; 0 drawn at {ERROR_FLOOR:g})")
    axes.set_ylabel("case")
    axes.set_title(PLOTS[0][1])
    engine_handles, _ = axes.get_legend_handles_labels()
    axes.legend(handles=[*engine_handles, *handles], loc="upper left",
                bbox_to_anchor=(1.01, 1.0), fontsize=8, title="engine / tolerance")
    return figure


def grad_time_figure(result: Tables) -> Figure | None:
    """Median ``grad`` time of each engine on each case, with its IQR as a bar."""

    costs = cost_table(result)
    costs = costs[costs["grad_s"] > 0]  # nan and 0 have no place on a log axis
    if costs.empty:
        return None
    cases, engines, rows, offsets = _case_layout(costs)
    figure, axes = _case_figure(len(cases))
    for engine in engines:
        group = costs[costs["engine"] == engine]
        median = group["grad_s"].to_numpy(dtype=float)
        # the IQR as a bar symmetric on the log axis: median / (1 + r) to median * (1 + r)
        spread = 1 + group["grad_iqr_s"].to_numpy(dtype=float) / median
        axes.errorbar(median, [rows[c] + offsets[engine] for c in group["case"]],
                      xerr=[median - median / spread, median * spread - median],
                      fmt=_marker(engine), color=_color(engine), markersize=4.5,
                      elinewidth=1, capsize=0, zorder=3, label=engine)
    axes.set_xscale("log")
    _case_axis(axes, cases)
    threads = result.meta["options"].get("threads", 1)
    # two lines: under the axes alone (the legend takes the right), one would be cut off
    axes.set_xlabel("grad time per call in seconds (log scale; median over blocks)\n"
                    "bar: median / (1 + r) to median * (1 + r), r = IQR / median; "
                    f"PyTorch on {threads} thread{'s' if threads != 1 else ''}")
    axes.set_ylabel("case")
    axes.set_title(PLOTS[1][1])
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="engine")
    return figure


def ratio_figure(result: Tables) -> Figure | None:
    """``grad / loss`` per engine against the number of parameters, with the theory's costs."""

    costs = cost_table(result)
    counts = param_counts(result)
    costs = costs[(costs["ratio"] > 0) & costs["case"].isin(counts)]
    if costs.empty:
        return None
    figure = _figure(10, 6)
    axes = figure.add_subplot()
    engines = list(dict.fromkeys(costs["engine"]))
    # spread engines sideways a little: many cases share a parameter count
    spread = {e: 1.0 + 0.06 * (i - (len(engines) - 1) / 2) for i, e in enumerate(engines)}
    for engine in engines:
        group = costs[costs["engine"] == engine]
        n = group["case"].map(counts).to_numpy(dtype=float)
        axes.scatter(n * spread[engine], group["ratio"], color=_color(engine),
                     marker=_marker(engine), s=26, alpha=0.85, zorder=3, label=engine)
    n_max = max(counts[c] for c in costs["case"])
    grid = np.geomspace(1, max(2.0, n_max * 1.3), 100)
    axes.plot(grid, 2 * grid + 1, color=_color("fd-central"), linestyle="--", linewidth=1,
              label="2n + 1: central-difference loss calls")
    axes.plot(grid, grid + 1, color=_color("fd-complex"), linestyle=":", linewidth=1.2,
              label="n + 1: complex-step loss calls")
    axes.axhline(5, color="black", linestyle="-.", linewidth=1,
                 label="5: reverse-mode bound (cheap gradient principle)")
    axes.axhline(1, color="#999999", linestyle="-", linewidth=0.8, label="1: gradient free")
    axes.set_xscale("log")
    axes.set_yscale("log")
    ticks = [t for t in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= grid[-1]]
    axes.set_xticks(ticks, [str(t) for t in ticks])
    low, high = axes.get_ylim()
    yticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
              if low <= t <= high]
    axes.set_yticks(yticks, [f"{t:g}" for t in yticks])
    axes.minorticks_off()
    axes.set_xlabel("number of parameters n (log; engines spread sideways)")
    axes.set_ylabel("grad time / loss time (log)")
    axes.set_title(PLOTS[2][1])
    axes.grid(which="major", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return figure


def write_plots(result: Tables, folder: str | Path) -> list[str]:
    """Write every plot the result has data for into ``folder``; return the file names."""
    folder = Path(folder)
    names = []
    for (name, _), make in zip(PLOTS, (error_figure, grad_time_figure, ratio_figure),
                               strict=True):
        figure = make(result)
        if figure is None:
            continue
        figure.savefig(folder / name, dpi=DPI, metadata={"Software": None})
        names.append(name)
    return names


__all__ = ["PLOTS", "error_figure", "grad_time_figure", "ratio_figure", "write_plots"]

