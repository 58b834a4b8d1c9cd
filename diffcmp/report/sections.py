"""The report's general sections: how the timings were taken (and whether they are noisy), the
tolerances and where they come from, and the environment."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..grading.grade import EXPECT_TOLERANCE
from ..results.derived import (
    NOISY_RELATIVE_IQR,
    busy_text,
    cost_table,
    has_second_order,
    of_derivative,
    timing_noise,
)
from ..results.format import seconds
from ..results.tables import Tables
from ..run.timing import BLOCK_S
from .blocks import fmt, table
from .second import second_link


def timing_section(result: Tables) -> list[str]:
    options = result.meta["options"]
    threads = options["threads"]
    parts = ["## Timing", "",
             f"Times are per call, measured after a warm-up call in blocks of calls that each last "
             f"at least {seconds(BLOCK_S)}, until at least {options['min_time']} s per phase; the "
             "tables give the median over blocks and the interquartile range (IQR) as a share of "
             "it, and the number of calls. The garbage collector is paused during blocks (as "
             "`timeit` does), JAX results are waited for (`block_until_ready`), and PyTorch runs "
             f"on {threads} thread{'s' if threads != 1 else ''} (`--threads`); XLA uses its own "
             "defaults, and NumPy's BLAS one thread in `diffcmp run`'s workers (unless "
             "`OMP_NUM_THREADS` or its kin say otherwise). `prepare` is every step before the "
             "first timed call (SymPy derivation from a cleared cache and `cse`, `lambdify`, "
             "building the op graph, JAX trace and XLA compile, the first call) and is never "
             "part of `loss` or `grad`.", "",
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
        parts += [table(summary, right=[k for k in summary[0] if k != "engine"]), ""]
    return parts


def noise_note(result: Tables) -> str:
    """A warning when the timings are noisy or the machine was busy; else ``""``."""
    env = result.meta.get("environment", {})
    noise = timing_noise(result)
    reasons = []
    if not math.isnan(noise) and noise > NOISY_RELATIVE_IQR:
        reasons.append(f"the typical measurement's IQR is {noise:.0%} of its median "
                       f"(above {NOISY_RELATIVE_IQR:.0%})")
    busy = busy_text(env)
    if busy and not math.isnan(noise):
        reasons.append(busy)
    if not reasons:
        return ""
    text = "; ".join(reasons)
    return (f"**Noisy timings.** {text[0].upper()}{text[1:]}: other work shared the CPU. "
            "Medians over short blocks resist brief interruptions, not a machine that is busy "
            "throughout; rerun on a quiet machine before quoting these times.")


def _loads(load: Sequence[float]) -> str:
    return " / ".join(f"{x:g}" for x in load)


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


def tolerance_section(result: Tables) -> list[str]:
    parts = ["## Tolerances", "",
             "Each engine's loss and every gradient component are compared with the reference by "
             "`error = |a - b| / max(floor, |a| + |b|)`: relative above the floor, absolute "
             "below it. ADBench and GradBench use the fixed floor 1 (`rho_adbench` in "
             "`agreement.csv`), which grades nothing below 1. diffcmp derives each value's floor "
             "from the case: the first-order bound on its float64 rounding error (running error "
             "analysis over the loss as written and its vectorised gradient), in units of the "
             "unit roundoff, never above 1. A value far below its floor was computed by "
             "cancellation, and float64 holds it only to that; above its floor a value is graded "
             "relative to its own size, so a tiny gradient that is 100% off is a mismatch. "
             "`fd-central`'s floor adds its quotient's own rounding. The worst component is the "
             "`error`, `floor` (in `agreement.csv`) is the floor of that component, and the "
             "engine agrees when the error is at most the tolerance. `[expect]` values are "
             f"checked against the reference with the same rule and an error of at most "
             f"{EXPECT_TOLERANCE:g} unless the case says otherwise.", "",
             table([{"engine": name, "device": info.get("device", "-"),
                     "dtype": info.get("dtype", "-"), "tolerance": fmt(info["tolerance"]),
                      "computes": info["summary"], "source of the tolerance": info["source"]}
                     for name, info in result.meta["engines"].items()], right=("tolerance",)),
             ""]
    if has_second_order(result):
        parts += [f"Second derivatives have tolerances of their own: see {second_link()}.", ""]
    digits = result.agreement.get("digits")
    if digits is not None and digits.notna().any():
        parts += [f"The reference certified its values at {digits.min():.0f} to "
                  f"{digits.max():.0f} digits (median {digits.median():.0f}): it evaluates at "
                  "50 digits and doubles until two consecutive precisions agree to 17 "
                  "significant digits.", ""]
    if not result.agreement.empty:
        defaults = pd.DataFrame([{"engine": e, "default": i["tolerance"]}
                                 for e, i in result.meta["engines"].items()])
        overrides = of_derivative(result.agreement, "gradient").merge(defaults, on="engine")
        overrides = overrides[overrides["tolerance"] != overrides["default"]]
        if not overrides.empty:
            parts += ["Case overrides: " + ", ".join(
                f"`{c}` {e} {fmt(t)}" for (c, e), t in
                overrides.groupby(["case", "engine"], sort=False)["tolerance"].first().items())
                + ".", ""]
    return parts


def _precision(result: Tables) -> str:
    """The dtypes and the device of the run (issue 21), as the environment's line says them."""
    env, options = result.meta["environment"], result.meta.get("options", {})
    dtypes = options.get("dtypes", [env.get("dtype", "?")])
    where = f"; PyTorch and JAX on {options['device']}" if "device" in options else ""
    if list(dtypes) == ["float64"] or "dtypes" not in options:
        return f"dtype {env.get('dtype', '?')} everywhere (JAX with x64 enabled locally){where}"
    return (f"dtypes {', '.join(dtypes)}: float64 but in the columns named for another "
            f"(`torch[float32]`; JAX with x64 enabled locally){where}")


def environment_section(result: Tables) -> list[str]:
    env = result.meta["environment"]
    libraries = ", ".join(f"{label} {env.get(key, '?')}" for label, key in (
        ("diffcmp", "diffcmp"), ("SymPy", "sympy"), ("mpmath", "mpmath"), ("NumPy", "numpy"),
        ("PyTorch", "torch"), ("JAX", "jax"), ("pandas", "pandas")))
    lines = ["## Environment", "",
             f"- Python {env.get('python', '?')} on {env.get('platform', '?')}",
             f"- {libraries}",
             f"- CPU: {env.get('cpu', '?')}, {env.get('cpu_count', '?')} logical cores",
             f"- PyTorch threads: {env.get('torch_threads', '?')}; {_precision(result)}"]
    if env.get("gpu"):
        lines.append(f"- GPU: {env['gpu']}")
    before, load = env.get("load_avg_before"), env.get("load_avg")
    if load:
        lines.append("- Load average (1 / 5 / 15 minutes): "
                     + (f"{_loads(before)} before the run, " if before else "")
                     + f"{_loads(load)} when it ended, the run's own work included")
    if env.get("other_cpu") is not None:
        lines.append(f"- Other processes kept {env['other_cpu']:.1f} of the "
                     f"{env.get('cpu_count', '?')} logical cores busy during the run, on average "
                     "(the machine's busy CPU time less diffcmp's own)")
    return [*lines, *_cluster_lines(result.meta.get("cluster")), ""]


def _cluster_lines(cluster: dict[str, Any] | None) -> list[str]:
    """Where a run on a Dask cluster ran (``meta["cluster"]``): the workers and their cases."""
    if not cluster:
        return []
    counts = Counter(cluster["workers"].values())
    each = ", ".join(f"`{worker or '?'}` {n}" for worker, n in sorted(counts.items()))
    return [f"- On the Dask cluster of `{cluster['scheduler']}`, cases per worker: {each} "
            "(each case's worker: `cluster` in results.json); a timed case ran with no other "
            "diffcmp case on its machine. The load above is this machine's, not the workers'"]


def reference_section(result: Tables) -> list[str]:
    """When no symbolic loss was given (:func:`diffcmp.check` without ``loss``): what the
    reference is, and the rule that turns its error estimate into grading floors."""
    fd = result.meta.get("fd_reference")
    if not fd:
        return []
    note = fd["note"]
    parts = ["## Reference", "",
             f"**Finite differences of your function, not a symbolic reference.** "
             f"{note[0].upper()}{note[1:]}.", "",
             f"Grading rule: {fd['rule']} (safety factor {fd['safety']:g}). A difference "
             "within the reference's own error is therefore never a mismatch; anything beyond it "
             "is graded as usual.", ""]
    if fd["tolerance_used"] > fd["tolerance"]:
        parts += [f"The tolerance was raised from {fd['tolerance']:g} to "
                  f"{fd['tolerance_used']:.3g}: the finite-difference reference is accurate "
                  f"only to {fd['max_error']:.2g} in some component, so a tighter verdict would "
                  "blame your gradient for the reference's error. Pass `loss=` for a certified "
                  "symbolic reference.", ""]
    return parts


def settings_section(result: Tables) -> list[str]:
    """Where each setting of the run came from: the command line, a ``pyproject.toml``'s
    ``[tool.diffcmp]`` table, or diffcmp's default (``meta["settings"]``, written by the CLI)."""
    settings = result.meta.get("settings")
    if not settings:
        return []
    rows = [{"setting": f"`{key}`", "value": fmt(entry["value"]), "from": entry["source"]}
            for key, entry in settings.items()]
    return ["## Settings", "", "Command-line flags override `[tool.diffcmp]` in the nearest "
            "`pyproject.toml` (searched upward from the working directory), which overrides "
            "diffcmp's defaults.", "", table(rows), ""]
