"""How numbers read in text: durations with a unit, values in a sentence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def number(value: object) -> str:
    """A value in a sentence: 12 significant digits, ``nan`` spelled out."""
    if isinstance(value, float | np.floating):
        return f"{value:.12g}"
    return str(value)


def seconds(value: Any) -> str:
    """A duration with a unit chosen for it: ``1.23 s``, ``45.6 ms``, ``7.89 µs``, ``12 ns``."""
    if not isinstance(value, float | int | np.floating | np.integer) or math.isnan(value):
        return "-"
    value = float(value)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"
