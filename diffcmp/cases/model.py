"""The case model: a loss, the parameters it is differentiated in (their values are the point),
fixed data, and optional expectations, tolerances and random sample points, validated when made.

Limits keep a hostile case from exhausting time or memory, and are checked before anything is
built: an array holds at most ``MAX_ARRAY_ELEMENTS`` numbers and a whole case
``MAX_CASE_ELEMENTS``; a loss string is checked against the shapes of its params and data when
the case is made (see :func:`diffcmp.lang.analyze` for its own limits).
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ..errors import CaseError
from ..lang import CONSTANTS, FUNCTION_NAMES, analyze, parse, result_shape
from ..lang.gather import valued_shapes
from ..lang.nodes import inline, parse_nodes
from ..registry import engine_names, is_engine_name
from ..status import Status
from .generate import Generated, parse_generated
from .sweep import Sweep, check_size, parse_sweep
from .values import MAX_ARRAY_ELEMENTS, to_array

MAX_CASE_ELEMENTS = 5_000_000
MAX_SAMPLE_COUNT = 1000

EXPECT_KEYS = {"loss", "grad", "hessian", "status", "hessian_status", "hvp_status",
               "tolerance"}
SAMPLE_KEYS = {"count", "seed", "low", "high"}
REFERENCE_KEYS = {"max_digits"}
#: The range a case may set the reference's precision ceiling in (decimal digits).
DIGITS_RANGE = (100, 20_000)

__all__ = ["MAX_ARRAY_ELEMENTS", "MAX_CASE_ELEMENTS", "Case", "Sample"]


@dataclass(frozen=True)
class Sample:
    """Extra random points: ``count`` draws, uniform in ``[low, high]`` for every parameter."""

    count: int
    seed: int = 0
    low: float = -1.0
    high: float = 1.0


@dataclass
class Case:
    """One loss to differentiate: the unit every engine is graded on.

    ``loss`` is a string in the case-file language or a SymPy expression; ``params`` and
    ``data`` map names to numbers, vectors (lists) or matrices (lists of lists). ``expect`` may
    hold ``loss``, ``grad`` (a mapping like ``params``), ``hessian`` (``n x n``, rows and
    columns in component order), ``status`` (engine -> declared status), ``hessian_status`` and
    ``hvp_status`` (the same for second order) and ``tolerance``; ``tolerance`` maps engine
    names to graded tolerances. ``order`` 2 grades the Hessian and its product with a vector
    too (an expected Hessian implies it).

    A value may also be a generator table (``{"random": "normal", "shape": ["n", 2], "seed":
    0}``, see :mod:`~diffcmp.cases.generate`); ``sweep`` (a mapping with ``size``, ``sizes``,
    ``run``, see :mod:`~diffcmp.cases.sweep`) names the size generated shapes may use, and
    ``size`` the size to generate at (default ``sweep["run"]``). :meth:`at_size` makes the case
    again at another size.
    """

    name: str
    loss: str | sp.Expr
    params: Mapping[str, Any]
    data: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    tags: tuple[str, ...] = ()
    expect: Mapping[str, Any] = field(default_factory=dict)
    tolerance: Mapping[str, float] = field(default_factory=dict)
    sample: Sample | Mapping[str, Any] | None = None
    source: str | None = None
    reference: Mapping[str, Any] = field(default_factory=dict)
    #: Named intermediate nodes, in order: name -> expression over params, data and earlier
    #: nodes (see :mod:`diffcmp.lang.nodes`); the loss may use their names.
    nodes: Mapping[str, str] = field(default_factory=dict)
    sweep: Sweep | Mapping[str, Any] | None = None
    size: int | None = None
    #: The highest derivative graded: 1 (the gradient) or 2 (also the Hessian and its product
    #: with a vector); a run's ``--order`` may raise it.
    order: int = 1
    #: The generated values (``"params.X"`` -> how), made at ``size``.
    generated: dict[str, Generated] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        where = self.source or f"case {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise CaseError("'name' must be a non-empty string", where)
        if not isinstance(self.description, str):
            raise CaseError("'description' must be a string", where)
        if isinstance(self.tags, str) or not all(isinstance(t, str) for t in self.tags):
            raise CaseError("'tags' must be a list of strings", where)
        self.tags = tuple(self.tags)
        if isinstance(self.loss, str):
            if not self.loss.strip():
                raise CaseError("'loss' is empty", where)
        elif isinstance(self.loss, sp.MatrixBase):
            if self.loss.shape != (1, 1):
                raise CaseError(f"the loss must be a scalar, but is a {self.loss.shape[0]}x"
                                f"{self.loss.shape[1]} matrix", where)
            self.loss = self.loss[0, 0]
        elif not isinstance(self.loss, sp.Basic):
            raise CaseError(f"'loss' must be a string or a SymPy expression, not "
                            f"{type(self.loss).__name__}", where)
        self.sweep = None if self.sweep is None else parse_sweep(self.sweep, where)
        if self.size is not None:
            if self.sweep is None:
                raise CaseError("'size' is given, but the case has no [sweep] table", where)
            check_size(self.size, "size", where)
        elif self.sweep is not None:
            self.size = self.sweep.run
        names = [self.sweep.size] if self.sweep is not None else []
        params = _values(self.params, "params", where, names)
        data = _values(self.data, "data", where, names)
        if not params:
            raise CaseError("'params' is empty: there is nothing to differentiate", where)
        both = sorted(set(params) & set(data))
        if both:
            raise CaseError(f"'{both[0]}' is in both [params] and [data]", where)
        self.generated = {f"{section}.{name}": value
                          for section, values in (("params", params), ("data", data))
                          for name, value in values.items() if isinstance(value, Generated)}
        _check_sizes(self, [*params.values(), *data.values()], where)
        sizes = {self.sweep.size: self.size} if self.sweep is not None else {}
        self.params, self.data = ({name: _made(value, f"{section}.{name}", sizes, where)
                                   for name, value in values.items()}
                                  for section, values in (("params", params), ("data", data)))
        if isinstance(self.order, bool) or self.order not in (1, 2):
            raise CaseError(f"'order' must be 1 or 2, not {self.order!r}", where)
        self.tolerance = _tolerances(self.tolerance, where)
        self.expect = _expect(self.expect, self.params, where)
        if "hessian" in self.expect and self.order < 2:
            self.order = 2  # a Hessian to expect asks for it
        self.sample = _sample(self.sample, where)
        self.reference = _reference(self.reference, where)
        self.nodes = _nodes(self.nodes, self.params, self.data, self.loss, where)
        if isinstance(self.loss, str):
            _check_loss(self.loss, self.params, self.data, where, self.nodes)

    @property
    def where(self) -> str:
        """The file (or the case name) that errors about this case name."""
        return self.source or f"case {self.name!r}"

    def at_size(self, size: int) -> Case:
        """This case made again with its sweep's size at ``size``: generated values drawn anew
        (the same seeds), the rest as they are. ``[expect]`` values hold at the case's ``run``
        size only, so elsewhere only ``expect.status`` and ``expect.tolerance`` are kept.
        Raises :class:`CaseError` for a case without ``[sweep]`` or a size over the limits."""
        if self.sweep is None:
            raise CaseError("has no [sweep] table: it has no size to change", self.where)
        check_size(size, "size", self.where)

        def written(section: str, values: Mapping[str, Any]) -> dict[str, Any]:
            return {name: self.generated[f"{section}.{name}"].spec
                    if f"{section}.{name}" in self.generated else value
                    for name, value in values.items()}

        expect = dict(self.expect) if size == self.sweep.run else \
            {k: v for k, v in self.expect.items()
             if k in ("status", "hessian_status", "hvp_status", "tolerance")}
        return Case(name=self.name, loss=self.loss, params=written("params", self.params),
                    data=written("data", self.data), description=self.description,
                    tags=self.tags, expect=expect, tolerance=self.tolerance,
                    sample=self.sample, source=self.source, reference=self.reference,
                    nodes=self.nodes, sweep=self.sweep, size=size, order=self.order)


def _check_loss(loss: str, params: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray],
                where: str, nodes: Mapping[str, str]) -> None:
    """Parse and check a loss string against the case's shapes before anything is built."""
    expression = inline(parse(loss, where), parse_nodes(nodes, where))
    analyze(expression, valued_shapes(params, data))
    if not expression.names & set(params):
        raise CaseError("the loss uses no parameter (none of " + ", ".join(sorted(params)) +
                        "): its gradient is identically zero", where)


def _nodes(values: Any, params: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray],
           loss: Any, where: str) -> dict[str, str]:
    """Named nodes, checked: identifiers that are no param, datum or function, expressions of
    the language over what comes before them, with shapes that fit."""
    if not isinstance(values, Mapping):
        raise CaseError("[nodes] must be a table of names and expressions", where)
    if values and not isinstance(loss, str):
        raise CaseError("[nodes] name parts of a loss string; a SymPy loss has none", where)
    out: dict[str, str] = {}
    shapes = valued_shapes(params, data)
    for name, source in values.items():
        _check_name(name, "nodes", where)
        if name in shapes:
            raise CaseError(f"[nodes] name '{name}' is already a param or datum", where)
        if not isinstance(source, str):
            raise CaseError(f"nodes.{name} must be an expression string", where)
        parsed = parse_nodes({**out, name: source}, where)
        expression = inline(parsed[name], {k: v for k, v in parsed.items() if k != name})
        shapes[name] = result_shape(expression, shapes)
        out[name] = source
    return out


def _values(values: Any, key: str, where: str,
            size_names: list[str]) -> dict[str, np.ndarray | Generated]:
    """Each value as an array, or (a generator table) how to make it."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise CaseError(f"[{key}] must be a table of names and values", where)
    out: dict[str, np.ndarray | Generated] = {}
    for name, value in values.items():
        _check_name(name, key, where)
        out[name] = parse_generated(value, f"{key}.{name}", where, size_names) \
            if isinstance(value, Mapping) else to_array(value, f"{key}.{name}", where)
    return out


def _check_sizes(case: Case, values: list[np.ndarray | Generated], where: str) -> None:
    """The case's limits at its size and at every size of its sweep, from the shapes alone
    (nothing is drawn); a sweep size no generated shape uses is an error."""
    fixed = sum(v.size for v in values if isinstance(v, np.ndarray))
    sweep = case.sweep
    if sweep is not None and not any(sweep.size in g.shape for g in case.generated.values()):
        raise CaseError(f"sweep.size is {sweep.size!r}, but no generated shape uses it: "
                        f"e.g. X = {{ random = \"normal\", shape = [\"{sweep.size}\", 2], "
                        "seed = 0 }", where)
    checked = [None] if sweep is None else sorted({case.size, *sweep.sizes, sweep.run})
    for size in checked:
        sizes = {} if sweep is None else {sweep.size: size}
        at = "" if sweep is None else f" at {sweep.size} = {size:,}"
        listed = "" if sweep is None or size == case.size else \
            " (sweep.run)" if size == sweep.run and size not in sweep.sizes else " (sweep.sizes)"
        for name, generated in case.generated.items():
            count = generated.elements_at(sizes)
            if count > MAX_ARRAY_ELEMENTS:
                raise CaseError(f"{name} has {count:,} elements{at}; the limit is "
                                f"{MAX_ARRAY_ELEMENTS:,}{listed}", where)
        total = fixed + sum(g.elements_at(sizes) for g in case.generated.values())
        if total > MAX_CASE_ELEMENTS:
            raise CaseError(f"the case holds {total:,} numbers{at}; the limit is "
                            f"{MAX_CASE_ELEMENTS:,}{listed}", where)


def _made(value: np.ndarray | Generated, key: str, sizes: dict[str, int],
          where: str) -> np.ndarray:
    return to_array(value.generate(sizes), key, where) if isinstance(value, Generated) \
        else value


def _check_name(name: Any, key: str, where: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise CaseError(f"[{key}] name {name!r} is not a valid identifier", where)
    if name in FUNCTION_NAMES or name in CONSTANTS:
        raise CaseError(f"[{key}] name '{name}' is reserved (a function or constant of the "
                        "language)", where)


def _tolerances(values: Any, where: str) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise CaseError("[tolerance] must be a table of engine names and numbers", where)
    out = {}
    for engine, value in values.items():
        _check_engine(engine, f"tolerance.{engine}", where)
        out[str(engine)] = _tolerance(value, f"tolerance.{engine}", where)
    return out


def _tolerance(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0 \
            or not math.isfinite(value):
        raise CaseError(f"{key} must be a non-negative number", where)
    return float(value)


def _check_engine(name: Any, key: str, where: str) -> None:
    if not isinstance(name, str) or not is_engine_name(name):
        raise CaseError(f"{key}: unknown engine {name!r} (known: {', '.join(engine_names())})",
                        where)


def _expect(values: Any, params: Mapping[str, np.ndarray], where: str) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise CaseError("[expect] must be a table", where)
    unknown = sorted(set(values) - EXPECT_KEYS)
    if unknown:
        raise CaseError(f"unknown key expect.{unknown[0]} (allowed: "
                        f"{', '.join(sorted(EXPECT_KEYS))})", where)
    out: dict[str, Any] = {}
    if "loss" in values:
        out["loss"] = float(to_array(values["loss"], "expect.loss", where).reshape(()))
    if "grad" in values:
        grad = values["grad"]
        if not isinstance(grad, Mapping):
            raise CaseError("expect.grad must be a table of parameter names and values", where)
        out["grad"] = {}
        for name, value in grad.items():
            if name not in params:
                raise CaseError(f"expect.grad.{name} names no parameter", where)
            array = to_array(value, f"expect.grad.{name}", where)
            if array.shape != params[name].shape:
                raise CaseError(f"expect.grad.{name} has shape {array.shape}, but the parameter "
                                f"has shape {params[name].shape}", where)
            out["grad"][name] = array
    if "hessian" in values:
        n = sum(int(p.size) for p in params.values())
        array = to_array(values["hessian"], "expect.hessian", where)
        if array.shape != (n, n):
            raise CaseError(f"expect.hessian has shape {array.shape}, but the params have {n} "
                            f"components: it must be {n} x {n} (rows and columns in component "
                            "order)", where)
        out["hessian"] = array
    for key in ("status", "hessian_status", "hvp_status"):
        if key in values:
            status = values[key]
            if not isinstance(status, Mapping):
                raise CaseError(f"expect.{key} must be a table of engine names and statuses",
                                where)
            for engine, value in status.items():
                _check_engine(engine, f"expect.{key}.{engine}", where)
                if value not in Status.names():
                    raise CaseError(f"expect.{key}.{engine} = {value!r} is not a status (one "
                                    f"of {', '.join(Status.names())})", where)
            out[key] = dict(status)
    if "tolerance" in values:
        out["tolerance"] = _tolerance(values["tolerance"], "expect.tolerance", where)
    return out


def _sample(value: Any, where: str) -> Sample | None:
    if value is None or isinstance(value, Sample):
        return value
    if not isinstance(value, Mapping):
        raise CaseError("[sample] must be a table with count, seed, low, high", where)
    unknown = sorted(set(value) - SAMPLE_KEYS)
    if unknown:
        raise CaseError(f"unknown key sample.{unknown[0]}", where)
    count = value.get("count", 1)
    seed = value.get("seed", 0)
    for key, number in (("count", count), ("seed", seed)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise CaseError(f"sample.{key} must be a non-negative integer", where)
    if count > MAX_SAMPLE_COUNT:
        raise CaseError(f"sample.count is {count}; the limit is {MAX_SAMPLE_COUNT}", where)
    low = float(to_array(value.get("low", -1.0), "sample.low", where).reshape(()))
    high = float(to_array(value.get("high", 1.0), "sample.high", where).reshape(()))
    if not low < high:
        raise CaseError("sample.low must be below sample.high", where)
    return Sample(count, seed, low, high)


# --- files -------------------------------------------------------------------------------------


def _reference(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise CaseError("[reference] must be a table (max_digits = ...)", where)
    unknown = sorted(set(value) - REFERENCE_KEYS)
    if unknown:
        raise CaseError(f"unknown key reference.{unknown[0]} (allowed: max_digits)", where)
    out: dict[str, Any] = {}
    if "max_digits" in value:
        digits = value["max_digits"]
        if isinstance(digits, bool) or not isinstance(digits, int) or \
                not DIGITS_RANGE[0] <= digits <= DIGITS_RANGE[1]:
            raise CaseError(f"reference.max_digits must be an integer from {DIGITS_RANGE[0]} to "
                            f"{DIGITS_RANGE[1]:,}", where)
        out["max_digits"] = digits
    return out
