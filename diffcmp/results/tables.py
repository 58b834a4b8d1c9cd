"""The tables a run produces, as pandas DataFrames, and their versioned JSON form.

:class:`Tables` gathers the rows of every case (:class:`~diffcmp.run.rows.CaseResult`) into
DataFrames, decides the exit code, and reads and writes ``results.json`` (format
``diffcmp-results``, version ``FORMAT_VERSION``). The user's :class:`diffcmp.Result` adds the
report to it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd

from ..errors import DiffcmpError
from ..grading.declared import declaration, declared_for, fails
from ..precision import engine_device
from ..registry import BUILT_IN, engine_dtype, engine_info
from ..run.options import Options
from ..run.rows import CaseResult
from .environment import Usage, environment

FORMAT = "diffcmp-results"
FORMAT_VERSION = 4
#: Versions this diffcmp reads (version 1 lacks the agreement's ``rho_adbench`` and ``floor``;
#: versions 1 and 2 lack the reference's certified text, :data:`EXACT_COLUMNS`; versions 1 to 3
#: grade gradients only: no ``derivative`` column, no ``hessians`` table).
READS_VERSIONS = (1, 2, 3, 4)

#: Where a tolerance set for the run (``Options.tolerance``) comes from, in the report.
RUN_TOLERANCE = "set for this run (see Settings)"

COLUMNS = {
    "agreement": ["case", "point", "engine", "derivative", "status", "loss", "error",
                  "rel_error", "tolerance", "message", "digits", "cause", "rho_adbench", "floor",
                  "loss_exact", "loss_flag", "loss_bound"],
    "gradients": ["case", "point", "engine", "component", "value", "reference",
                  "reference_exact", "reference_flag", "reference_bound"],
    "timing": ["case", "engine", "phase", "median_s", "iqr_s", "runs", "device"],
    "expressions": ["case", "loss_ops", "grad_ops", "grad_cse_ops", "derive_s", "method",
                    "formula", "array_derive_s", "hvp_formula", "hessian_formula",
                    "hvp_derive_s"],
    "expectations": ["case", "kind", "item", "expected", "actual", "holds"],
    "errors": ["case", "source", "message"],
    "one_sided": ["case", "point", "component", "left", "right"],
    "hessians": ["case", "point", "engine", "row", "col", "value", "reference"],
}

#: The reference's certified values as text (version 3): ``*_exact`` the decimal text (17
#: significant digits) of the float64 column it names, ``*_flag`` ``"beyond float64"`` (float64
#: cannot hold it) or ``"bound"`` (the value is 0 within the proven bound ``*_bound``), ``""``
#: each where the value is not the certified reference's (an engine's own loss, no certificate).
EXACT_COLUMNS = {
    "agreement": ("loss_exact", "loss_flag", "loss_bound"),
    "gradients": ("reference_exact", "reference_flag", "reference_bound"),
}


@dataclass
class Tables:
    """Every table of a run, as DataFrames, plus run metadata (``meta``)."""

    agreement: pd.DataFrame
    gradients: pd.DataFrame
    timing: pd.DataFrame
    expressions: pd.DataFrame
    expectations: pd.DataFrame
    errors: pd.DataFrame
    one_sided: pd.DataFrame
    hessians: pd.DataFrame
    declared: dict[str, dict[str, str]]
    meta: dict[str, Any]

    @classmethod
    def from_cases(cls, cases: list[CaseResult], options: Options, wall_s: float,
                   since: Usage | None = None) -> Self:
        """Gather case results into DataFrames; ``since``, taken as the run started, tells how
        busy other work kept the machine meanwhile (:func:`~.environment.environment`)."""
        tables: dict[str, list[dict[str, Any]]] = {name: [] for name in COLUMNS}
        declared = {}
        for c in cases:
            if c.load_error is not None:
                tables["errors"].append({"case": c.case, "source": c.source,
                                         "message": c.load_error})
                continue
            for name in ("agreement", "gradients", "timing", "expectations", "one_sided",
                         "hessians"):
                tables[name].extend(getattr(c, name))
            if c.expressions is not None:
                tables["expressions"].append({"case": c.case, **c.expressions})
            if c.declared:
                declared[c.case] = c.declared
        frames = {name: pd.DataFrame(rows, columns=COLUMNS[name]) for name, rows in tables.items()}
        measured, prepared = time_spent(frames["timing"])
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "environment": environment(options.threads, since, options.device),
            "engines": {name: _engine_meta(name, options) for name in options.engines},
            "options": {"engines": list(options.engines), "timing": options.timing,
                        "min_time": options.min_time, "threads": options.threads,
                        "tags": list(options.tags),
                        "allow_undefined": options.allow_undefined, "order": options.order,
                        "max_hessian_n": options.max_hessian_n, "device": options.device,
                        "dtypes": list(options.dtypes)},
            "wall_s": wall_s, "measured_s": measured, "prepare_s": prepared,
            "sources": {c.case: c.source for c in cases},
        }
        return cls(declared=declared, meta=meta, **frames)

    # -- verdict --
    def declaration(self, case: str, engine: str, status: str,
                    derivative: str = "gradient") -> str | None:
        """What ``case`` declares for a row of ``engine`` with ``status`` on ``derivative`` (its
        ``[expect.status]`` for the gradient, ``[expect.hessian_status]`` and
        ``[expect.hvp_status]`` for second order:
        :func:`~diffcmp.grading.declared.declared_for`; an ``undefined`` row is covered by the
        reference's declaration or by the run's ``allow_undefined``:
        :func:`~diffcmp.grading.declared.declaration`)."""
        declared = declared_for(self.declared.get(case, {}), derivative)
        return declaration(declared, engine, status,
                           bool(self.meta.get("options", {}).get("allow_undefined", False)))

    def failing(self) -> pd.DataFrame:
        """Agreement rows that fail the run (a failing status not declared, or not as declared;
        ``undefined`` fails unless declared)."""
        if self.agreement.empty:
            return self.agreement
        mask = [fails(s, self.declaration(c, e, s, d)) for c, e, s, d in
                zip(self.agreement["case"], self.agreement["engine"], self.agreement["status"],
                    self.agreement["derivative"], strict=True)]
        return self.agreement[mask]

    def failures(self) -> pd.DataFrame:
        """:meth:`failing`, less the rows that only repeat another: an engine's ``undefined``
        row whose message is the reference's own ``undefined`` at that point (one fact, said
        once, by the reference's row)."""
        failing = self.failing()
        if failing.empty:
            return failing
        undefined = {(r.case, r.point): r.message for r in failing.itertuples()
                     if r.engine == "reference" and r.status == "undefined"}
        keep = [not (r.engine != "reference" and r.status == "undefined"
                     and (r.case, r.point) in undefined
                     and str(r.message).endswith(str(undefined[(r.case, r.point)])))
                for r in failing.itertuples()]
        return failing[keep]

    @property
    def ok(self) -> bool:
        """True when every engine agrees (or is unsupported, a kink, unresolved or declared),
        no point is undefined unless declared, and every expectation holds."""
        return self.failing().empty and bool(self.expectations["holds"].all())

    @property
    def exit_code(self) -> int:
        """0 all agree, 1 a mismatch/nan/error/timeout, an undeclared undefined point or a
        failed expectation, 2 a case failed to load."""
        if not self.errors.empty:
            return 2
        return 0 if self.ok else 1

    # -- JSON --
    def to_json(self) -> str:
        """Everything, with versions and a format version; floats written to round-trip."""
        payload = {**self.meta, "declared": self.declared,
                   **{name: _records(getattr(self, name)) for name in COLUMNS}}
        return json.dumps(payload, indent=1, default=_default)

    @classmethod
    def from_json(cls, text: str, source: str = "results.json") -> Self:
        """Read what :meth:`to_json` wrote. Raises :class:`DiffcmpError` on another format."""
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DiffcmpError(f"{source}: not JSON ({exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise DiffcmpError(f"{source}: not a diffcmp results file")
        if payload.get("format_version") not in READS_VERSIONS:
            raise DiffcmpError(f"{source}: results format version "
                               f"{payload.get('format_version')} (this diffcmp reads "
                               f"versions {', '.join(map(str, READS_VERSIONS))})")
        frames = {name: _frame(payload.get(name, []), COLUMNS[name]) for name in COLUMNS}
        for name, columns in EXACT_COLUMNS.items():  # older versions: no certified text
            for column in columns:
                frames[name][column] = frames[name][column].astype(object).fillna("").astype(str)
        # written before issue 21: no device column (unknown, not assumed)
        frames["timing"]["device"] = frames["timing"]["device"].astype(object).fillna(
            "").astype(str)
        # versions 1 to 3 graded the gradient only
        frames["agreement"]["derivative"] = frames["agreement"]["derivative"].astype(
            object).fillna("gradient").astype(str)
        meta = {k: v for k, v in payload.items() if k not in COLUMNS and k != "declared"}
        return cls(declared=payload.get("declared", {}), meta=meta, **frames)


def _engine_meta(name: str, options: Options) -> dict[str, Any]:
    """What the report says of an engine: its tolerance at first and second order (a run's
    tolerance scales the second order's as :func:`~diffcmp.run.options.tolerance_for` does),
    where each comes from, what it computes, and where and in which dtype (issue 21)."""
    info = engine_info(name)
    tolerance = options.tolerance.get(name, info.tolerance)
    scale = tolerance / info.tolerance if info.tolerance > 0 else 1.0
    ours = name in options.tolerance
    summary = info.summary if info.origin == BUILT_IN else f"{info.summary} ({info.origin})"
    return {"tolerance": tolerance,
            "source": RUN_TOLERANCE if ours else info.tolerance_source,
            "summary": summary, "origin": info.origin,
            "device": engine_device(name, options.device), "dtype": engine_dtype(name),
            "second_tolerance": info.second_tolerance * scale,
            "second_source": (f"the default {info.second_tolerance:g}, scaled as the tolerance "
                              f"set for this run scales the gradient's: {info.second_source}")
            if ours else info.second_source}


#: Preparation steps that several engines report but that run once per case: the
#: shared symbolic derivations: SymPy's scalar one with its ``cse`` (``sympy``; the reference's
#: fallback for an untranslatable Python case), and the vectorised one (``reference``, ``matcalc``).
SHARED_STEPS = ("prepare: derive", "prepare: cse", "prepare: derive arrays")


def time_spent(timing: pd.DataFrame) -> tuple[float, float]:
    """Seconds of a run in its timing table: ``(measured, prepared)``.

    ``measured`` is the time in timed blocks of ``loss`` and ``grad`` calls, and at second order
    of ``hessian`` and ``hvp`` calls (median per call times calls); ``prepared`` the
    preparation steps, the shared derivation and ``cse`` (:data:`SHARED_STEPS`) counted once
    per case.
    """
    if timing.empty:
        return 0.0, 0.0
    timed = timing[timing["phase"].isin(["loss", "grad", "hessian", "hvp"])]
    measured = float((timed["median_s"] * timed["runs"]).sum())
    steps = timing[timing["phase"].str.startswith("prepare")]
    shared = steps["phase"].isin(SHARED_STEPS)
    once = steps[shared].groupby(["case", "phase"])["median_s"].max().sum()
    return measured, float(steps[~shared]["median_s"].sum() + once)


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _default(value: Any) -> Any:
    return _plain(value) if isinstance(value, np.generic) else str(value)


def _frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    rows = [{k: _NON_FINITE[v["float"]] if isinstance(v, dict) and "float" in v else v
             for k, v in row.items()} for row in records]
    return pd.DataFrame(rows, columns=columns)


__all__ = ["COLUMNS", "EXACT_COLUMNS", "FORMAT", "FORMAT_VERSION", "SHARED_STEPS", "Tables",
           "time_spent"]
