"""How a run runs: which engines, whether and how long to time, PyTorch threads, tags, and
default tolerances."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import DiffcmpError
from ..registry import default_engine_names, engine_info, is_engine_name
from .limits import MIN_TIME_S

if TYPE_CHECKING:  # only named: building Options (the pytest plugin as pytest starts) stays light
    from ..cases import Case

#: Default largest parameter count whose full Hessian is computed (``--max-hessian-n``).
MAX_HESSIAN_N = 1000


@dataclass(frozen=True)
class Options:
    """How to run: which engines, whether and how long to time, PyTorch threads.

    ``tolerance`` maps engine names to the tolerance graded by default in this run (a case's own
    ``[tolerance]`` still wins), e.g. from ``[tool.diffcmp] tolerance``; it may also name an
    extra engine that is not registered (the user's code in :func:`diffcmp.check`).
    ``allow_undefined`` lets points where the loss or its gradient is ``undefined`` pass, as
    though every case declared ``[expect.status] reference = "undefined"`` (without requiring
    it: a defined point is graded as usual).
    """

    engines: tuple[str, ...] = field(default_factory=default_engine_names)
    timing: bool = True
    min_time: float = MIN_TIME_S
    threads: int = 1
    tags: tuple[str, ...] = field(default=())
    tolerance: Mapping[str, float] = field(default_factory=dict)
    allow_undefined: bool = False
    #: Derivatives graded beyond the gradient: 2 adds every engine's Hessian and
    #: Hessian-vector product (a case's own ``order = 2`` asks for it too).
    order: int = 1
    #: Above this many parameters the full Hessian is skipped (with its reason); the
    #: Hessian-vector product still runs.
    max_hessian_n: int = MAX_HESSIAN_N

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise DiffcmpError(f"the order must be 1 or 2, not {self.order!r}")
        if isinstance(self.max_hessian_n, bool) or not isinstance(self.max_hessian_n, int) \
                or self.max_hessian_n < 1:
            raise DiffcmpError(f"max_hessian_n must be a positive integer, not "
                               f"{self.max_hessian_n!r}")
        for name, value in self.tolerance.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not 0 <= value < math.inf:
                raise DiffcmpError(f"the tolerance of {name} must be a non-negative number, not "
                                   f"{value!r}")
        object.__setattr__(self, "tolerance", {k: float(v) for k, v in self.tolerance.items()})
        for name in self.engines:
            engine_info(name)  # raises for an unknown engine; imports no framework
        if "reference" not in self.engines:
            object.__setattr__(self, "engines", ("reference", *self.engines))


def tolerance_for(case: Case, engine: str, options: Options | None = None,
                  derivative: str = "gradient") -> float:
    """The tolerance graded for ``engine`` on ``case``: the case's override, else the run's
    (``options.tolerance``), else the registry's default. For a second-order ``derivative``
    (``"hessian"``, ``"hvp"``) the registry's second-order tolerance, scaled like an override
    of the gradient's (an override of 1e-8 where the default is 1e-10 makes the Hessian's 100
    times its default too)."""
    if derivative != "gradient":
        info = engine_info(engine) if is_engine_name(engine) else None
        first = tolerance_for(case, engine, options)
        if info is None:  # the user's own code (check): its tolerance, at every order
            return first
        scale = first / info.tolerance if info.tolerance > 0 else 1.0
        return info.second_tolerance * scale
    if engine in case.tolerance:
        return case.tolerance[engine]
    if options is not None and engine in options.tolerance:
        return options.tolerance[engine]
    return engine_info(engine).tolerance
