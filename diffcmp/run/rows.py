"""The rows one case produces: plain lists of dicts, picklable, so that a case can run in a worker
process and send its rows back (:mod:`~diffcmp.run.isolation`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..grading.declared import declared_key
from ..grading.exact import Exact
from ..grading.grade import Verdict

#: The ``actual`` of a declared status whose engine was not asked for: the declaration is
#: ignored (the expectation holds, and the verdict says it was not checked).
NOT_RUN = "not run"


def _exact_columns(column: str, exact: Exact | None, k: int) -> dict[str, str]:
    """``column``'s certified decimal text, flag and bound from value ``k`` of ``exact`` (``""``
    each without a certificate)."""
    if exact is None:
        return {f"{column}_exact": "", f"{column}_flag": "", f"{column}_bound": ""}
    return {f"{column}_exact": exact.values[k], f"{column}_flag": exact.flag(k),
            f"{column}_bound": exact.bounds[k]}


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
    hessians: list[dict[str, Any]] = field(default_factory=list)
    expressions: dict[str, Any] | None = None
    declared: dict[str, str] = field(default_factory=dict)

    def add_agreement(self, point: int, engine: str, verdict: Verdict, loss: float,
                      tolerance: float, declared: str | None, digits: int | None = None,
                      cause: str = "", exact: Exact | None = None,
                      derivative: str = "gradient") -> None:
        """One engine's verdict at one point on one ``derivative`` (``"gradient"``,
        ``"hessian"``, ``"hvp"``); ``exact``: the certified values of the reference, whose loss
        this row's ``loss`` is (``loss_exact``, ``loss_flag``, ``loss_bound``)."""
        self.agreement.append({
            "derivative": derivative,
            "case": self.case, "point": point, "engine": engine, "status": str(verdict.status),
            "loss": loss, "error": verdict.error, "rel_error": verdict.rel_error,
            "tolerance": tolerance, "message": verdict.message,
            "digits": math.nan if digits is None else digits, "cause": cause,
            "rho_adbench": verdict.rho_adbench, "floor": verdict.floor,
            **_exact_columns("loss", exact, 0)})
        if declared:
            self.declared[declared_key(engine, derivative)] = declared

    def add_gradients(self, point: int, engine: str, components: list[str], values: np.ndarray,
                      reference: np.ndarray, exact: Exact | None = None) -> None:
        """Every gradient component of one engine at one point, beside the reference;
        ``exact``: the reference's certified values (``reference_exact``, ``reference_flag``,
        ``reference_bound``)."""
        self.gradients.extend(
            {"case": self.case, "point": point, "engine": engine, "component": c,
             "value": float(v), "reference": float(r), **_exact_columns("reference", exact, k)}
            for k, (c, v, r) in enumerate(zip(components, values, reference, strict=True),
                                          start=1))

    def add_hessian(self, point: int, engine: str, rows: list[str], cols: list[str],
                    values: np.ndarray, reference: np.ndarray) -> None:
        """One engine's Hessian (``cols`` every component) or Hessian-vector product (``cols``
        the one column ``"v"``) at one point, entry by entry beside the reference's."""
        values = np.asarray(values, dtype=np.float64).reshape(len(rows), len(cols))
        reference = np.asarray(reference, dtype=np.float64).reshape(len(rows), len(cols))
        self.hessians.extend(
            {"case": self.case, "point": point, "engine": engine, "row": r, "col": c,
             "value": float(values[i, j]), "reference": float(reference[i, j])}
            for i, r in enumerate(rows) for j, c in enumerate(cols))

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

    def add_timing(self, engine: str, phase: str, measurement: Any,
                   device: str = "cpu") -> None:
        """One timed phase of one engine, on ``device`` (where it computed: ``cpu``,
        ``cuda``)."""
        self.timing.append({"case": self.case, "engine": engine, "phase": phase,
                            "median_s": measurement.median_s, "iqr_s": measurement.iqr_s,
                            "runs": measurement.runs, "device": device})
