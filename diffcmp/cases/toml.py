"""TOML case files: data, never executed. Read with limits (size, value count) checked before
the TOML parser runs, then validated as a :class:`~diffcmp.cases.model.Case`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import CaseError
from .model import Case
from .values import kind

MAX_FILE_BYTES = 2_000_000
#: A TOML file holds at most about this many values (larger data: generated, or from Python).
MAX_TOML_VALUES = 50_000

TOP_LEVEL_KEYS = {"name", "description", "tags", "loss", "params", "data", "expect", "tolerance",
                  "sample", "reference", "nodes", "sweep", "order"}


def load_toml(path: Path) -> Case:
    """The case of one TOML file. Raises :class:`CaseError` naming the file."""
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
    if values > MAX_TOML_VALUES + 1000:  # refused before the (pure Python) TOML parser runs
        raise CaseError(f"holds about {values:,} values; a TOML case holds at most "
                        f"{MAX_TOML_VALUES:,} numbers", where)
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
        raise CaseError(f"'loss' must be a string, not {kind(table['loss'])}", where)
    if "params" not in table:
        raise CaseError("missing table [params]", where)
    tags = table.get("tags", [])
    if not isinstance(tags, list):
        raise CaseError("'tags' must be a list of strings", where)
    return Case(name=table.get("name", path.stem), loss=table["loss"], params=table["params"],
                data=table.get("data", {}), description=table.get("description", ""),
                tags=tuple(tags), expect=table.get("expect", {}),
                tolerance=table.get("tolerance", {}), sample=table.get("sample"), source=where,
                reference=table.get("reference", {}), nodes=table.get("nodes", {}),
                sweep=table.get("sweep"), order=table.get("order", 1))
