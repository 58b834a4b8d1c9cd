"""Generated values: an array a case describes instead of listing it, as a table in ``[params]``
or ``[data]`` (or a dict in the Python API). Case files are data: nothing is executed, only one
of these few generators, each validated strictly::

    X = { random = "normal", shape = ["n", 2], seed = 0 }              # mean = 0, std = 1
    w = { random = "uniform", shape = [3], seed = 1, low = -1, high = 1 }  # default [0, 1)
    y = { random = "choice", values = [-1, 1], shape = ["n"], seed = 2 }
    t = { linspace = [-1, 1], shape = ["n"] }                         # n points, both ends
    j = { arange = 0, shape = [8] }                                   # 0, 1, ..., 7 (step = 1)

A shape has any number of sizes (up to ``MAX_DIMENSIONS``: ``[2, "n", 3]`` is a 3-d tensor),
each a positive integer or the name of the case's sweep size
(``[sweep] size``, see :mod:`~diffcmp.cases.sweep`), so one case file describes its data at
every size. ``linspace`` and ``arange`` fill the shape in row-major order.

Random values are reproducible: NumPy's ``numpy.random.default_rng(seed)`` (PCG64), drawn with
``normal(mean, std, shape)``, ``uniform(low, high, shape)`` or ``choice(values, shape)``; every
random table names its ``seed``. ``rng = "legacy"`` draws from ``numpy.random.RandomState(seed)``
(MT19937) instead, which is what ``np.random.seed(seed)`` followed by ``np.random.rand(...)``
gives: GradBench's generators.

A generated array counts towards the case's limits (:data:`MAX_ARRAY_ELEMENTS` per array and the
case's total), checked from its shape before anything is drawn; it does not count towards a TOML
file's limit on written values.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CaseError
from ..lang.parse import MAX_DIMENSIONS
from .values import MAX_ARRAY_ELEMENTS, kind

#: The generator keys a table may name (exactly one).
GENERATORS = ("random", "linspace", "arange")
#: Distributions of ``random`` and the options each takes.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {"normal": ("mean", "std"),
                                             "uniform": ("low", "high"),
                                             "choice": ("values",)}
#: Random number generators: NumPy's default (PCG64) and the legacy Mersenne Twister.
RNGS = ("default", "legacy")
#: Keys each generator allows besides its own.
OPTIONS: dict[str, tuple[str, ...]] = {"random": ("shape", "seed", "rng"),
                                       "linspace": ("shape",),
                                       "arange": ("shape", "step")}
#: At most this many values in ``choice``'s ``values``.
MAX_CHOICES = 1000
#: The largest seed (NumPy's legacy generator takes seeds below 2**32).
MAX_SEED = 2**32 - 1

Dimension = int | str


@dataclass(frozen=True)
class Generated:
    """One generated array: which generator, its shape (sizes or size names), its options."""

    generator: str
    shape: tuple[Dimension, ...]
    options: Mapping[str, Any]
    #: The table as written (kept so that the case can be made again at another size).
    spec: Mapping[str, Any]

    def shape_at(self, sizes: Mapping[str, int]) -> tuple[int, ...]:
        """The shape with each size name replaced by its value in ``sizes``."""
        return tuple(sizes[d] if isinstance(d, str) else d for d in self.shape)

    def elements_at(self, sizes: Mapping[str, int]) -> int:
        """How many numbers the array holds at ``sizes`` (nothing is drawn)."""
        return math.prod(self.shape_at(sizes))

    def generate(self, sizes: Mapping[str, int]) -> np.ndarray:
        """The array at ``sizes``, float64 (the caller checked its size)."""
        shape = self.shape_at(sizes)
        count = math.prod(shape)
        o = self.options
        if self.generator == "linspace":
            values = np.linspace(o["start"], o["stop"], count)
        elif self.generator == "arange":
            values = o["start"] + o["step"] * np.arange(count, dtype=np.float64)
        else:
            rng: Any = np.random.RandomState(o["seed"]) if o["rng"] == "legacy" else \
                np.random.default_rng(o["seed"])
            if o["random"] == "normal":
                values = rng.normal(o["mean"], o["std"], shape)
            elif o["random"] == "uniform":
                values = rng.uniform(o["low"], o["high"], shape)
            else:
                values = rng.choice(np.asarray(o["values"], dtype=np.float64), shape)
        return np.asarray(values, dtype=np.float64).reshape(shape)


def parse_generated(value: Mapping[str, Any], key: str, where: str,
                    size_names: Sequence[str]) -> Generated:
    """Validate the generator table ``value`` at ``key`` (``params.X``); ``size_names`` are the
    names a shape may use. Raises :class:`CaseError` naming ``where`` and the key."""
    named = [g for g in GENERATORS if g in value]
    if not named:
        raise CaseError(f"{key} is a table but names no generator (one of "
                        f"{', '.join(GENERATORS)}): e.g. {{ random = \"normal\", shape = [3], "
                        "seed = 0 }", where)
    if len(named) > 1:
        raise CaseError(f"{key} names two generators ({named[0]} and {named[1]}); give one",
                        where)
    generator = named[0]
    allowed = [generator, *OPTIONS[generator]]
    if generator == "random":
        distribution = value["random"]
        if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
            raise CaseError(f"{key}.random: unknown distribution {distribution!r}"
                            f"{_hint(distribution, DISTRIBUTIONS)} (known: "
                            f"{', '.join(DISTRIBUTIONS)})", where)
        allowed += DISTRIBUTIONS[distribution]
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise CaseError(f"{key}: unknown key {unknown[0]!r}{_hint(unknown[0], allowed)} "
                        f"(allowed: {', '.join(allowed)})", where)
    options: dict[str, Any] = {}
    if generator == "random":
        options.update(_random(value, value["random"], key, where))
    elif generator == "linspace":
        ends = value["linspace"]
        if not isinstance(ends, list) or len(ends) != 2:
            raise CaseError(f"{key}.linspace must be [start, stop], two numbers", where)
        options["start"] = _number(ends[0], f"{key}.linspace[0]", where)
        options["stop"] = _number(ends[1], f"{key}.linspace[1]", where)
    else:
        options["start"] = _number(value["arange"], f"{key}.arange", where)
        options["step"] = _number(value.get("step", 1), f"{key}.step", where)
        if options["step"] == 0:
            raise CaseError(f"{key}.step must not be 0", where)
    if "shape" not in value:
        raise CaseError(f"{key} needs a shape: shape = [] (a number), [3] (a vector) or "
                        "[\"n\", 2] (a matrix whose rows follow the sweep's size)", where)
    shape = _shape(value["shape"], f"{key}.shape", where, size_names)
    return Generated(generator, shape, options, dict(value))


def _random(value: Mapping[str, Any], distribution: str, key: str,
            where: str) -> dict[str, Any]:
    if "seed" not in value:
        raise CaseError(f"{key} needs a seed (seed = 0): random data is generated "
                        "reproducibly", where)
    seed = value["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise CaseError(f"{key}.seed must be an integer from 0 to {MAX_SEED:,}", where)
    rng = value.get("rng", "default")
    if rng not in RNGS:
        raise CaseError(f"{key}.rng must be one of {', '.join(map(repr, RNGS))}, not {rng!r}",
                        where)
    options: dict[str, Any] = {"random": distribution, "seed": seed, "rng": rng}
    if distribution == "normal":
        options["mean"] = _number(value.get("mean", 0.0), f"{key}.mean", where)
        options["std"] = _number(value.get("std", 1.0), f"{key}.std", where)
        if options["std"] < 0:
            raise CaseError(f"{key}.std must not be negative", where)
    elif distribution == "uniform":
        options["low"] = _number(value.get("low", 0.0), f"{key}.low", where)
        options["high"] = _number(value.get("high", 1.0), f"{key}.high", where)
        if not options["low"] < options["high"]:
            raise CaseError(f"{key}.low must be below {key}.high", where)
    else:
        choices = value.get("values")
        if not isinstance(choices, list) or not choices:
            raise CaseError(f"{key}.values must be a non-empty list of numbers to choose "
                            "from", where)
        if len(choices) > MAX_CHOICES:
            raise CaseError(f"{key}.values holds {len(choices):,} numbers; the limit is "
                            f"{MAX_CHOICES:,}", where)
        options["values"] = [_number(v, f"{key}.values[{i}]", where)
                             for i, v in enumerate(choices)]
    return options


def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CaseError(f"{key} must be a number, not {kind(value)}", where)
    try:
        number = float(value)
    except OverflowError:
        raise CaseError(f"{key} does not fit in float64", where) from None
    if not math.isfinite(number):
        raise CaseError(f"{key} is {number}: values must be finite numbers", where)
    return number


def _shape(value: Any, key: str, where: str,
           size_names: Sequence[str]) -> tuple[Dimension, ...]:
    if not isinstance(value, list | tuple):
        raise CaseError(f"{key} must be a list of sizes ([], [3], [\"n\", 2]), not "
                        f"{kind(value)}", where)
    if len(value) > MAX_DIMENSIONS:
        raise CaseError(f"{key} has {len(value)} dimensions; values have at most "
                        f"{MAX_DIMENSIONS}", where)
    shape: list[Dimension] = []
    for i, size in enumerate(value):
        if isinstance(size, str):
            if size not in size_names:
                known = (f"the case's sweep size is {size_names[0]!r}" if size_names else
                         "the case has no [sweep] table to name one")
                raise CaseError(f"{key}[{i}]: unknown size name {size!r} ({known})", where)
        elif isinstance(size, bool) or not isinstance(size, int):
            raise CaseError(f"{key}[{i}] must be a positive integer or the sweep's size name, "
                            f"not {kind(size)}", where)
        elif size < 1:
            raise CaseError(f"{key}[{i}] is {size}: sizes must be positive integers", where)
        elif size > MAX_ARRAY_ELEMENTS:
            raise CaseError(f"{key}[{i}] is {size:,}; an array holds at most "
                            f"{MAX_ARRAY_ELEMENTS:,} numbers", where)
        shape.append(size)
    return tuple(shape)


def _hint(word: Any, candidates: Sequence[str] | Mapping[str, Any]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


__all__ = ["DISTRIBUTIONS", "GENERATORS", "RNGS", "Generated", "parse_generated"]
