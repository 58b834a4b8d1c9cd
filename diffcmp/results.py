"""Results: the tables a run produces, as pandas DataFrames, and their versioned JSON form.

:class:`CaseResult` gathers one case's rows (plain data, picklable, so a case can run in another
process); :class:`Result` holds the DataFrames of a whole run, decides the exit code, and reads
and writes ``results.json`` (format ``diffcmp-results``, version ``FORMAT_VERSION``).
"""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import grading
from .errors import DiffcmpError

if TYPE_CHECKING:
    from .runner import Options

FORMAT = "diffcmp-results"
FORMAT_VERSION = 1

COLUMNS = {
    "agreement": ["case", "point", "engine", "status", "loss", "error", "rel_error", "tolerance",
                  "message"],
    "gradients": ["case", "point", "engine", "component", "value", "reference"],
    "timing": ["case", "engine", "phase", "median_s", "iqr_s", "runs"],
    "expressions": ["case", "loss_ops", "grad_ops", "grad_cse_ops", "derive_s", "method"],
    "expectations": ["case", "kind", "item", "expected", "actual", "holds"],
    "errors": ["case", "source", "message"],
    "one_sided": ["case", "point", "component", "left", "right"],
}


@dataclass
class CaseResult:
    """The rows one case produced (plain lists of dicts)."""

    case: str
    source: str = ""
    load_error: str | None = None
    agreement: list[dict[str, Any]] = field(default_factory=list)
    gradients: list[dict[str, Any]] = field(default_factory=list)
    timing: list[dict[str, Any]] = field(default_factory=list)
    expectations: list[dict[str, Any]] = field(default_factory=list)
    one_sided: list[dict[str, Any]] = field(default_factory=list)
    expressions: dict[str, Any] | None = None
    declared: dict[str, str] = field(default_factory=dict)

    def add_agreement(self, point: int, engine: str, verdict: grading.Verdict, loss: float,
                      tolerance: float, declared: str | None) -> None:
        """One engine's verdict at one point."""
        self.agreement.append({
            "case": self.case, "point": point, "engine": engine, "status": verdict.status,
            "loss": loss, "error": verdict.error, "rel_error": verdict.rel_error,
            "tolerance": tolerance, "message": verdict.message})
        if declared:
            self.declared[engine] = declared

    def add_gradients(self, point: int, engine: str, components: list[str], values: np.ndarray,
                      reference: np.ndarray) -> None:
        """Every gradient component of one engine at one point, beside the reference."""
        self.gradients.extend(
            {"case": self.case, "point": point, "engine": engine, "component": c,
             "value": float(v), "reference": float(r)}
            for c, v, r in zip(components, values, reference, strict=True))

    def add_one_sided(self, point: int, components: list[str], left: np.ndarray,
                      right: np.ndarray) -> None:
        """The one-sided partial derivatives at a kink."""
        self.one_sided.extend(
            {"case": self.case, "point": point, "component": c, "left": float(a),
             "right": float(b)} for c, a, b in zip(components, left, right, strict=True))

    def add_expectation(self, kind: str, item: str, expected: Any, actual: Any,
                        holds: bool) -> None:
        """One ``[expect]`` check (a value or a declared status) and whether it held."""
        self.expectations.append({"case": self.case, "kind": kind, "item": item,
                                  "expected": expected, "actual": actual, "holds": holds})

    def add_timing(self, engine: str, phase: str, measurement: Any) -> None:
        """One timed phase of one engine."""
        self.timing.append({"case": self.case, "engine": engine, "phase": phase,
                            "median_s": measurement.median_s, "iqr_s": measurement.iqr_s,
                            "runs": measurement.runs})


def environment(threads: int = 1) -> dict[str, Any]:
    """Versions of Python and the engines' libraries, the CPU, threads and dtype."""
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu": _cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": threads,
        "dtype": "float64", "load_avg": _load_avg(), **{p: version(p) for p in
                               ("diffcmp", "sympy", "mpmath", "numpy", "torch", "jax", "pandas")},
    }


def _load_avg() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (how busy the machine was), where the OS has them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class Result:
    """Every table of a run, as DataFrames, plus run metadata (``meta``)."""

    agreement: pd.DataFrame
    gradients: pd.DataFrame
    timing: pd.DataFrame
    expressions: pd.DataFrame
    expectations: pd.DataFrame
    errors: pd.DataFrame
    one_sided: pd.DataFrame
    declared: dict[str, dict[str, str]]
    meta: dict[str, Any]

    @classmethod
    def from_cases(cls, cases: list[CaseResult], options: Options, wall_s: float) -> Result:
        """Gather case results into DataFrames."""
        from .engines import engine_class

        tables: dict[str, list[dict[str, Any]]] = {name: [] for name in COLUMNS}
        declared = {}
        for c in cases:
            if c.load_error is not None:
                tables["errors"].append({"case": c.case, "source": c.source,
                                         "message": c.load_error})
                continue
            for name in ("agreement", "gradients", "timing", "expectations", "one_sided"):
                tables[name].extend(getattr(c, name))
            if c.expressions is not None:
                tables["expressions"].append({"case": c.case, **c.expressions})
            if c.declared:
                declared[c.case] = c.declared
        measured = sum(row["median_s"] * row["runs"] for row in tables["timing"])
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "environment": environment(options.threads),
            "engines": {name: {"tolerance": engine_class(name).tolerance,
                               "source": engine_class(name).tolerance_source,
                               "summary": engine_class(name).summary}
                        for name in options.engines},
            "options": {"engines": list(options.engines), "timing": options.timing,
                        "min_time": options.min_time, "threads": options.threads,
                        "tags": list(options.tags)},
            "wall_s": wall_s, "measured_s": measured,
            "sources": {c.case: c.source for c in cases},
        }
        frames = {name: pd.DataFrame(rows, columns=COLUMNS[name]) for name, rows in tables.items()}
        return cls(declared=declared, meta=meta, **frames)

    # -- verdict --
    def failing(self) -> pd.DataFrame:
        """Agreement rows that fail the run (a failing status not declared, or not as declared)."""
        if self.agreement.empty:
            return self.agreement
        declared = [self.declared.get(c, {}).get(e) for c, e in
                    zip(self.agreement["case"], self.agreement["engine"], strict=True)]
        mask = [grading.fails(s, d) for s, d in zip(self.agreement["status"], declared,
                                                    strict=True)]
        return self.agreement[mask]

    @property
    def ok(self) -> bool:
        """True when every engine agrees (or is unsupported, a kink or declared) and every
        expectation holds."""
        return self.failing().empty and bool(self.expectations["holds"].all())

    @property
    def exit_code(self) -> int:
        """0 all agree, 1 a mismatch/nan/error or a failed expectation, 2 a case failed to load."""
        if not self.errors.empty:
            return 2
        return 0 if self.ok else 1

    def to_markdown(self) -> str:
        """The markdown report (see :mod:`diffcmp.report`)."""
        from .report import render_markdown

        return render_markdown(self)

    # -- JSON --
    def to_json(self) -> str:
        """Everything, with versions and a format version; floats written to round-trip."""
        payload = {**self.meta, "declared": self.declared,
                   **{name: _records(getattr(self, name)) for name in COLUMNS}}
        return json.dumps(payload, indent=1, default=_default)

    @classmethod
    def from_json(cls, text: str, source: str = "results.json") -> Result:
        """Read what :meth:`to_json` wrote. Raises :class:`DiffcmpError` on another format."""
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DiffcmpError(f"{source}: not JSON ({exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise DiffcmpError(f"{source}: not a diffcmp results file")
        if payload.get("format_version") != FORMAT_VERSION:
            raise DiffcmpError(f"{source}: results format version "
                               f"{payload.get('format_version')} (this diffcmp reads "
                               f"{FORMAT_VERSION})")
        frames = {name: _frame(payload.get(name, []), COLUMNS[name]) for name in COLUMNS}
        meta = {k: v for k, v in payload.items() if k not in COLUMNS and k != "declared"}
        return cls(declared=payload.get("declared", {}), meta=meta, **frames)


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


__all__ = ["COLUMNS", "FORMAT", "FORMAT_VERSION", "CaseResult", "Result", "environment"]
