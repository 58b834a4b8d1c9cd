"""Project settings: the ``[tool.diffcmp]`` table of the nearest ``pyproject.toml``.

Searched upward from the working directory; the first ``pyproject.toml`` found is the project's
(with or without the table). It sets defaults for ``diffcmp run`` and the pytest plugin:

.. code-block:: toml

    [tool.diffcmp]
    paths = ["cases"]                   # what `diffcmp run` runs when given no PATH
    engines = ["torch", "jax"]          # or "torch,jax"; the reference always runs
    tolerance = { fd-central = 1e-5 }   # per engine; a case's own [tolerance] still wins
    timeout = 120                       # seconds per case
    min_time = 0.1                      # seconds of timing per phase
    out = "reports/latest-run"          # the report folder

Relative ``paths`` and ``out`` are relative to the ``pyproject.toml``'s folder. Command-line
flags override the table, which overrides diffcmp's defaults; :meth:`Settings.describe` says
where each value came from, for the report. Unknown keys and bad values are
:class:`~diffcmp.errors.DiffcmpError` naming the file.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DiffcmpError
from .registry import default_engine_names, engine_info, engine_names, is_engine_name
from .run.limits import DEFAULT_TIMEOUT_S, MIN_TIME_S

KEYS = ("paths", "engines", "tolerance", "timeout", "min_time", "out")
#: ``engines``: ``None`` stands for every default engine, the built-in ones (less the optional
#: frameworks') and the plugins that load (:func:`~diffcmp.registry.default_engine_names`, read
#: when settings are resolved).
DEFAULTS: dict[str, Any] = {"paths": [], "engines": None, "tolerance": {},
                            "timeout": DEFAULT_TIMEOUT_S, "min_time": MIN_TIME_S, "out": None}
COMMAND_LINE = "command line"
DEFAULT = "default"


@dataclass(frozen=True)
class Settings:
    """Resolved settings and where each came from (``command line``, a file, ``default``)."""

    values: dict[str, Any]
    sources: dict[str, str]
    #: The ``pyproject.toml`` that was read (``None``: none found).
    path: Path | None = None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def describe(self) -> dict[str, dict[str, str]]:
        """``{setting: {"value": text, "source": where}}`` for the report."""
        described = {key: {"value": _text(self.values[key]), "source": self.sources[key]}
                     for key in KEYS}
        if self.values["out"] is None:
            described["out"]["value"] = "a new timestamped folder under reports/"
        return described


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} = {v:g}" for k, v in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` (default: the working directory) or above."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def read_table(path: Path) -> dict[str, Any]:
    """The validated ``[tool.diffcmp]`` table of ``path`` (``{}`` when it has none), relative
    paths resolved against its folder."""
    where = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DiffcmpError(f"{where}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DiffcmpError(f"{where}: invalid TOML: {exc}") from None
    table = document.get("tool", {}).get("diffcmp", {})
    if not isinstance(table, Mapping):
        raise DiffcmpError(f"{where}: [tool.diffcmp] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], KEYS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DiffcmpError(f"{where}: [tool.diffcmp] unknown key '{unknown[0]}'{hint} "
                           f"(allowed: {', '.join(KEYS)})")
    return {key: _check(key, value, path) for key, value in table.items()}


def _check(key: str, value: Any, path: Path) -> Any:
    where = f"{path}: [tool.diffcmp] {key}"
    base = path.parent
    if key == "paths":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v
                                                               for v in value):
            raise DiffcmpError(f"{where} must be a list of paths (strings)")
        return [str(base / v) for v in value]
    if key == "engines":
        return check_engines(value, where)
    if key == "tolerance":
        if not isinstance(value, Mapping):
            raise DiffcmpError(f"{where} must be a table of engine names and numbers "
                               "(tolerance = { fd-central = 1e-5 })")
        check_engines(list(value), where)
        for name, number in value.items():
            if isinstance(number, bool) or not isinstance(number, int | float) or \
                    not 0 <= number < math.inf:
                raise DiffcmpError(f"{where}.{name} must be a non-negative number, not "
                                   f"{number!r}")
        return {name: float(number) for name, number in value.items()}
    if key in ("timeout", "min_time"):
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not 0 < value < math.inf:
            raise DiffcmpError(f"{where} must be a positive number of seconds, not {value!r}")
        return float(value)
    if not isinstance(value, str) or not value:  # out
        raise DiffcmpError(f"{where} must be a folder path (a string)")
    return str(base / value)


def check_engines(value: Any, where: str) -> list[str]:
    """Engine names from a list or a comma-separated string, each one registered."""
    if isinstance(value, str):
        value = [name.strip() for name in value.split(",") if name.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise DiffcmpError(f"{where} must be a list of engine names")
    for name in value:
        if not is_engine_name(name):
            known = engine_names()
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise DiffcmpError(f"{where}: unknown engine '{name}'{hint} (known: "
                               f"{', '.join(known)})")
        try:
            engine_info(name)  # a plugin that fails to load: its own line
        except DiffcmpError as exc:
            raise DiffcmpError(f"{where}: {exc}") from None
    return list(value)


def resolve(flags: Mapping[str, Any], start: Path | None = None) -> Settings:
    """Settings from command-line ``flags`` (``None``: not given), the nearest
    ``pyproject.toml``'s ``[tool.diffcmp]``, and the defaults, in that order."""
    path = find_pyproject(start)
    table = read_table(path) if path is not None else {}
    values, sources = {}, {}
    for key in KEYS:
        given = flags.get(key)
        if given is not None and given != [] and given != ():
            values[key], sources[key] = given, COMMAND_LINE
        elif key in table:
            values[key], sources[key] = table[key], f"{path} [tool.diffcmp]"
        else:
            values[key], sources[key] = DEFAULTS[key], DEFAULT
            if key == "engines":
                values[key] = list(default_engine_names())
    return Settings(values, sources, path)


__all__ = ["KEYS", "Settings", "check_engines", "find_pyproject", "read_table", "resolve"]
