"""How a run runs: which engines, whether and how long to time, PyTorch threads, tags."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..cases import Case
from ..registry import ENGINE_NAMES, engine_info
from .timing import MIN_TIME_S


@dataclass(frozen=True)
class Options:
    """How to run: which engines, whether and how long to time, PyTorch threads."""

    engines: tuple[str, ...] = ENGINE_NAMES
    timing: bool = True
    min_time: float = MIN_TIME_S
    threads: int = 1
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in self.engines:
            engine_info(name)  # raises for an unknown engine; imports nothing
        if "reference" not in self.engines:
            object.__setattr__(self, "engines", ("reference", *self.engines))


def tolerance_for(case: Case, engine: str) -> float:
    """The tolerance graded for ``engine`` on ``case``: the case's override or the default."""
    return case.tolerance.get(engine, engine_info(engine).tolerance)
