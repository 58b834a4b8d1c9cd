"""The ``[sweep]`` table: a case whose data grow with one size, and the sizes to run it at.

.. code-block:: toml

    [sweep]
    size = "n"                                # the name generated shapes use (default "n")
    sizes = [10, 100, 1000, 10000, 100000]    # what `diffcmp sweep` runs (this is the default)
    run = 100                                 # the size plain `diffcmp run` uses (default: the
                                              # smallest of sizes)

    [data]
    X = { random = "normal", shape = ["n", 2], seed = 0 }

A case with a ``[sweep]`` table is an ordinary case at its ``run`` size; ``diffcmp sweep`` makes
it again at each size (:meth:`~diffcmp.cases.model.Case.at_size`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import CaseError
from .values import kind

#: The sizes a sweep runs at when its table gives none.
DEFAULT_SIZES = (10, 100, 1000, 10_000, 100_000)
#: At most this many sizes in one sweep.
MAX_SIZES = 30
SWEEP_KEYS = ("size", "sizes", "run")


@dataclass(frozen=True)
class Sweep:
    """A size variable: its name, the sizes a sweep runs at, and the size of a plain run."""

    size: str = "n"
    sizes: tuple[int, ...] = DEFAULT_SIZES
    run: int | None = None

    def __post_init__(self) -> None:
        if self.run is None:
            object.__setattr__(self, "run", min(self.sizes))


def parse_sweep(value: Any, where: str) -> Sweep:
    """The ``[sweep]`` table (or a :class:`Sweep`), validated. Raises :class:`CaseError`."""
    if isinstance(value, Sweep):
        value = {"size": value.size, "sizes": list(value.sizes), "run": value.run}
    if not isinstance(value, Mapping):
        raise CaseError(f"[sweep] must be a table (size, sizes, run), not {kind(value)}", where)
    unknown = [k for k in value if k not in SWEEP_KEYS]
    if unknown:
        raise CaseError(f"unknown key sweep.{unknown[0]} (allowed: {', '.join(SWEEP_KEYS)})",
                        where)
    size = value.get("size", "n")
    if not isinstance(size, str) or not size.isidentifier():
        raise CaseError(f"sweep.size must be a name (size = \"n\"), not {size!r}", where)
    sizes = check_sizes(value.get("sizes", list(DEFAULT_SIZES)), "sweep.sizes", where)
    run = value.get("run")
    if run is not None:
        run = check_size(run, "sweep.run", where)
    return Sweep(size, sizes, run)


def check_sizes(value: Any, key: str, where: str | None = None) -> tuple[int, ...]:
    """A non-empty list of distinct positive integer sizes, sorted. Raises :class:`CaseError`."""
    if not isinstance(value, list | tuple) or not value:
        raise CaseError(f"{key} must be a non-empty list of positive integers", where)
    if len(value) > MAX_SIZES:
        raise CaseError(f"{key} has {len(value)} sizes; the limit is {MAX_SIZES}", where)
    sizes = [check_size(v, f"{key}[{i}]", where) for i, v in enumerate(value)]
    repeated = sorted({s for s in sizes if sizes.count(s) > 1})
    if repeated:
        raise CaseError(f"{key} lists {repeated[0]} twice", where)
    return tuple(sorted(sizes))


def check_size(value: Any, key: str, where: str | None = None) -> int:
    """One size: a positive integer. Raises :class:`CaseError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CaseError(f"{key} must be a positive integer, not {kind(value)}", where)
    if value < 1:
        raise CaseError(f"{key} is {value}: sizes must be positive integers", where)
    return value


__all__ = ["DEFAULT_SIZES", "MAX_SIZES", "Sweep", "check_size", "check_sizes", "parse_sweep"]
