"""Case loading: TOML case files (data, never executed) and Python case files (user code).

A case is a loss, the parameters it is differentiated in (their values are the point), fixed data,
and optional expectations, tolerances and random sample points. Limits on arrays keep a hostile
file from exhausting memory: at most ``MAX_ARRAY_ELEMENTS`` elements per array and
``MAX_CASE_ELEMENTS`` in a whole case.
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
from .language import CONSTANTS, FUNCTION_NAMES

MAX_ARRAY_ELEMENTS = 100_000
MAX_CASE_ELEMENTS = 200_000
MAX_FILE_BYTES = 5_000_000
MAX_SAMPLE_COUNT = 1000

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

    @property
    def where(self) -> str:
        """The file (or the case name) that errors about this case name."""
        return self.source or f"case {self.name!r}"


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
        value = value.tolist()
    shape = _shape(value, key, where)
    size = math.prod(shape)
    if size > MAX_ARRAY_ELEMENTS:
        raise CaseError(f"{key} has {size:,} elements; the limit is {MAX_ARRAY_ELEMENTS:,}", where)
    array = np.array(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise CaseError(f"{key} holds a NaN or infinite value", where)
    return array


def _shape(value: Any, key: str, where: str) -> tuple[int, ...]:
    """Check a nested list is a number, vector or matrix of numbers; return its shape."""
    if isinstance(value, bool) or isinstance(value, str | bytes) or value is None:
        raise CaseError(f"{key} must be a number, not {_kind(value)}", where)
    if isinstance(value, int | float | np.integer | np.floating | sp.Number):
        return ()
    if not isinstance(value, list | tuple):
        raise CaseError(f"{key} must be a number, list or list of lists, not {_kind(value)}",
                        where)
    if not value:
        raise CaseError(f"{key} is an empty list", where)
    if len(value) > MAX_ARRAY_ELEMENTS:
        raise CaseError(f"{key} has {len(value):,} elements; the limit is "
                        f"{MAX_ARRAY_ELEMENTS:,}", where)
    inner = {_shape(item, f"{key}[{i}]", where) for i, item in enumerate(value)}
    if len(inner) > 1:
        raise CaseError(f"{key} is ragged: its rows have different lengths", where)
    (item_shape,) = inner
    if len(item_shape) > 1:
        raise CaseError(f"{key} has more than two dimensions", where)
    return (len(value), *item_shape)


def _kind(value: Any) -> str:
    return {bool: "a boolean", str: "a string", type(None): "empty"}.get(
        type(value), f"a {type(value).__name__}")


def _tolerances(values: Any, where: str) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise CaseError("[tolerance] must be a table of engine names and numbers", where)
    out = {}
    for engine, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0 \
                or not math.isfinite(value):
            raise CaseError(f"tolerance.{engine} must be a non-negative number", where)
        out[str(engine)] = float(value)
    return out


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
            if value not in STATUSES:
                raise CaseError(f"expect.status.{engine} = {value!r} is not a status (one of "
                                f"{', '.join(STATUSES)})", where)
        out["status"] = dict(status)
    if "tolerance" in values:
        out["tolerance"] = _tolerances({"expect": values["tolerance"]}, where)["expect"]
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
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CaseError(f"is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}", where)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"cannot be read: {exc}", where) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
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
