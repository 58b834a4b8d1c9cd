"""Case loading: TOML case files (data, never executed) and Python case files (user code).

A case is a loss, the parameters it is differentiated in (their values are the point), fixed data,
and optional expectations, tolerances and random sample points. Limits keep a hostile file from
exhausting time or memory, and are checked before anything is built: a TOML file is at most
``MAX_FILE_BYTES``; an array holds at most ``MAX_ARRAY_ELEMENTS`` numbers and a whole case
``MAX_CASE_ELEMENTS``; a loss string is checked against the shapes of its params and data when the
case is made (see :func:`diffcmp.language.analyze` for its own limits), and the symbolic gradient
it asks for, parameter elements times the loss's scalar operations, is at most
``MAX_GRADIENT_OPS``.
"""

from __future__ import annotations

import importlib.util
import keyword
import math
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from .errors import CaseError
from .language import CONSTANTS, FUNCTION_NAMES, analyze, parse

MAX_ARRAY_ELEMENTS = 50_000
MAX_CASE_ELEMENTS = 50_000
MAX_FILE_BYTES = 2_000_000
MAX_SAMPLE_COUNT = 1000
MAX_GRADIENT_OPS = 20_000_000

TOP_LEVEL_KEYS = {"name", "description", "tags", "loss", "params", "data", "expect", "tolerance",
                  "sample"}
EXPECT_KEYS = {"loss", "grad", "status", "tolerance"}
SAMPLE_KEYS = {"count", "seed", "low", "high"}
STATUSES = ("ok", "mismatch", "nan", "unsupported", "error", "kink", "undefined", "timeout")


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
    hold ``loss``, ``grad`` (a mapping like ``params``), ``status`` (engine -> declared status) and
    ``tolerance``; ``tolerance`` maps engine names to graded tolerances.
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
        self.params = _values(self.params, "params", where)
        self.data = _values(self.data, "data", where)
        if not self.params:
            raise CaseError("'params' is empty: there is nothing to differentiate", where)
        both = sorted(set(self.params) & set(self.data))
        if both:
            raise CaseError(f"'{both[0]}' is in both [params] and [data]", where)
        total = sum(v.size for v in [*self.params.values(), *self.data.values()])
        if total > MAX_CASE_ELEMENTS:
            raise CaseError(f"the case holds {total:,} numbers; the limit is "
                            f"{MAX_CASE_ELEMENTS:,}", where)
        self.tolerance = _tolerances(self.tolerance, where)
        self.expect = _expect(self.expect, self.params, where)
        self.sample = _sample(self.sample, where)
        if isinstance(self.loss, str):
            _check_loss(self.loss, self.params, self.data, where)

    @property
    def where(self) -> str:
        """The file (or the case name) that errors about this case name."""
        return self.source or f"case {self.name!r}"


def _check_loss(loss: str, params: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray],
                where: str) -> None:
    """Parse and check a loss string against the case's shapes before anything is built."""
    expression = parse(loss, where)
    shapes = {name: value.shape for name, value in [*params.items(), *data.items()]}
    analysis = analyze(expression, shapes)
    if not expression.names & set(params):
        raise CaseError("the loss uses no parameter (none of " + ", ".join(sorted(params)) +
                        "): its gradient is identically zero", where)
    elements = sum(value.size for value in params.values())
    work = elements * analysis.scalar_ops
    if work > MAX_GRADIENT_OPS:
        raise CaseError(
            f"the symbolic gradient is too large to derive: {elements:,} parameter elements "
            f"times {analysis.scalar_ops:,} scalar operations is {work:,}; the limit is "
            f"{MAX_GRADIENT_OPS:,}", where)


def _values(values: Any, key: str, where: str) -> dict[str, np.ndarray]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise CaseError(f"[{key}] must be a table of names and values", where)
    out: dict[str, np.ndarray] = {}
    for name, value in values.items():
        _check_name(name, key, where)
        out[name] = to_array(value, f"{key}.{name}", where)
    return out


def _check_name(name: Any, key: str, where: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise CaseError(f"[{key}] name {name!r} is not a valid identifier", where)
    if name in FUNCTION_NAMES or name in CONSTANTS:
        raise CaseError(f"[{key}] name '{name}' is reserved (a function or constant of the "
                        "language)", where)


def to_array(value: Any, key: str, where: str) -> np.ndarray:
    """A number, list or list of lists as a float64 array, with errors that name ``key``."""
    if isinstance(value, sp.MatrixBase):
        value = value.tolist()
    if isinstance(value, np.ndarray):
        if value.size > MAX_ARRAY_ELEMENTS:
            raise CaseError(f"{key} has {value.size:,} elements; the limit is "
                            f"{MAX_ARRAY_ELEMENTS:,}", where)
        if value.ndim > 2:
            raise CaseError(f"{key} has more than two dimensions", where)
        if value.size == 0:
            raise CaseError(f"{key} is empty", where)
        if value.dtype.kind in "fiu":  # plain numbers: no need to look at each one
            value = value.astype(np.float64)
    if not (isinstance(value, np.ndarray) and value.dtype == np.float64):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        _shape(value, key, where)
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CaseError(f"{key} is not a number: {exc}", where) from None
    if not np.all(np.isfinite(array)):
        index = np.unravel_index(int(np.argmin(np.isfinite(array))), array.shape)
        item = key + "".join(f"[{i}]" for i in index)
        raise CaseError(f"{item} is {array[index]}: values must be finite numbers", where)
    return array


def _shape(value: Any, key: str, where: str, depth: int = 0) -> tuple[int, ...]:
    """Check a nested list is a number, vector or matrix of numbers; return its shape.

    The size is checked from the first row before the others are looked at, so a huge list is
    refused without walking it.
    """
    if isinstance(value, bool) or isinstance(value, str | bytes) or value is None:
        raise CaseError(f"{key} must be a number, not {_kind(value)}", where)
    if isinstance(value, int | float | np.integer | np.floating | sp.Number):
        if isinstance(value, sp.Number) and not value.is_real:
            raise CaseError(f"{key} must be a real number, not {value}", where)
        return ()
    if not isinstance(value, list | tuple):
        raise CaseError(f"{key} must be a number, list or list of lists, not {_kind(value)}",
                        where)
    if not value:
        raise CaseError(f"{key} is an empty list", where)
    if depth >= 2:
        raise CaseError(f"{key.split('[')[0]} has more than two dimensions", where)
    if len(value) > MAX_ARRAY_ELEMENTS:
        raise CaseError(f"{key} has {len(value):,} elements; the limit is "
                        f"{MAX_ARRAY_ELEMENTS:,}", where)
    first = value[0]
    if isinstance(first, list | tuple) and len(value) * len(first) > MAX_ARRAY_ELEMENTS:
        raise CaseError(f"{key} has {len(value) * len(first):,} elements; the limit is "
                        f"{MAX_ARRAY_ELEMENTS:,}", where)
    item_shape = _shape(first, f"{key}[0]", where, depth + 1)
    for i, item in enumerate(value[1:], start=1):
        shape = _shape(item, f"{key}[{i}]", where, depth + 1)
        if shape != item_shape:
            raise CaseError(f"{key} is ragged: {key}[0] has shape {_shape_name(item_shape)} "
                            f"but {key}[{i}] has shape {_shape_name(shape)}", where)
    return (len(value), *item_shape)


def _shape_name(shape: tuple[int, ...]) -> str:
    return "scalar" if not shape else "(" + ", ".join(map(str, shape)) + ")"


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    names = {bool: "a boolean", str: "a string", type(None): "empty", list: "a list",
             bytes: "bytes"}
    name = type(value).__name__
    return names.get(type(value), f"{'an' if name[0] in 'aeiou' else 'a'} {name}")


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
    from .engines import ENGINE_NAMES  # here: the engines' package imports this module

    if name not in ENGINE_NAMES:
        raise CaseError(f"{key}: unknown engine {name!r} (known: {', '.join(ENGINE_NAMES)})",
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
    if "status" in values:
        status = values["status"]
        if not isinstance(status, Mapping):
            raise CaseError("expect.status must be a table of engine names and statuses", where)
        for engine, value in status.items():
            _check_engine(engine, f"expect.status.{engine}", where)
            if value not in STATUSES:
                raise CaseError(f"expect.status.{engine} = {value!r} is not a status (one of "
                                f"{', '.join(STATUSES)})", where)
        out["status"] = dict(status)
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


def load_case(path: str | Path) -> Case:
    """Load one case from a ``.toml`` file (or the single ``CASE`` of a ``.py`` file)."""
    cases = load_cases(path)
    if len(cases) != 1:
        raise CaseError(f"holds {len(cases)} cases; use load_cases()", str(path))
    return cases[0]


def load_cases(path: str | Path) -> list[Case]:
    """Load the case(s) of one ``.toml`` or ``.py`` file. Raises :class:`CaseError`."""
    path = Path(path)
    if path.suffix == ".toml":
        return [_load_toml(path)]
    if path.suffix == ".py":
        return _load_python(path)
    raise CaseError("is not a case file (expected .toml or .py)", str(path))


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """The case files named by ``paths``: files as given, folders searched (sorted, recursive)."""
    found: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found.extend(sorted(p for p in entry.rglob("*")
                                if p.suffix in (".toml", ".py") and p.is_file()
                                and not p.name.startswith(("_", "."))))
        elif entry.exists():
            found.append(entry)
        else:
            raise CaseError("no such file or folder", str(entry))
    return found


def _load_toml(path: Path) -> Case:
    where = str(path)
    try:
        if not path.is_file():  # a folder, a named pipe or a device could block or never end
            raise CaseError("is not a regular file", where)
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise CaseError(f"is over {MAX_FILE_BYTES:,} bytes, the limit", where)
        text = raw.decode("utf-8")
    except OSError as exc:
        raise CaseError(f"cannot be read: {exc.strerror or exc}", where) from None
    except UnicodeDecodeError as exc:
        raise CaseError(f"is not UTF-8 text (byte {exc.start})", where) from None
    values = text.count(",") + text.count("\n")
    if values > MAX_CASE_ELEMENTS + 1000:  # refused before the (pure Python) TOML parser runs
        raise CaseError(f"holds about {values:,} values; a case holds at most "
                        f"{MAX_CASE_ELEMENTS:,} numbers", where)
    try:
        table = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:  # ValueError: a 5000-digit integer
        raise CaseError(f"invalid TOML: {exc}", where) from None
    except RecursionError:
        raise CaseError("invalid TOML: nested too deeply", where) from None
    if not table:
        raise CaseError("is empty: a case needs at least 'loss' and [params]", where)
    unknown = sorted(set(table) - TOP_LEVEL_KEYS)
    if unknown:
        raise CaseError(f"unknown key '{unknown[0]}' (allowed: "
                        f"{', '.join(sorted(TOP_LEVEL_KEYS))})", where)
    if "loss" not in table:
        raise CaseError("missing key 'loss'", where)
    if not isinstance(table["loss"], str):
        raise CaseError(f"'loss' must be a string, not {_kind(table['loss'])}", where)
    if "params" not in table:
        raise CaseError("missing table [params]", where)
    tags = table.get("tags", [])
    if not isinstance(tags, list):
        raise CaseError("'tags' must be a list of strings", where)
    return Case(name=table.get("name", path.stem), loss=table["loss"], params=table["params"],
                data=table.get("data", {}), description=table.get("description", ""),
                tags=tuple(tags), expect=table.get("expect", {}),
                tolerance=table.get("tolerance", {}), sample=table.get("sample"), source=where)


def _load_python(path: Path) -> list[Case]:
    """Run a Python case file (code the user chose to run, like a test file); read CASE/CASES."""
    where = str(path)
    module_name = f"_diffcmp_case_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CaseError("cannot be imported", where)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except CaseError as exc:
        raise CaseError(exc.detail, where) from None
    except Exception as exc:
        raise CaseError(f"raised {type(exc).__name__}: {exc}", where) from None
    finally:
        sys.modules.pop(module_name, None)
    found = getattr(module, "CASES", None)
    if found is None and hasattr(module, "CASE"):
        found = [module.CASE]
    if not found or not all(isinstance(c, Case) for c in found):
        raise CaseError("defines no CASE = diffcmp.Case(...) or CASES = [...]", where)
    for case in found:
        case.source = case.source or where
    return list(found)
