"""Finding and loading case files: ``.toml`` (data) and ``.py`` (code), files or folders."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import CaseError
from .model import Case
from .python import load_python
from .toml import load_toml


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
        return [load_toml(path)]
    if path.suffix == ".py":
        return load_python(path)
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
