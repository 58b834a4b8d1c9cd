"""Precision-limited or wrong (issue 21): what a verdict says of an engine computing in a
precision below float64.

A float32 gradient off by 4.7e-8 is as right as float32 allows, and off by 1e-3 it is wrong: the
tolerance of an engine in a dtype is set by that dtype's unit roundoff
(:func:`~diffcmp.precision.dtype_tolerance`) and its floors count the rounding of its inputs
(:meth:`~diffcmp.grading.floors.FloorFinder.at`). This module only says so in the verdict: an
``ok`` whose error the same tolerance scaled to float64's unit roundoff would not pass is
*precision-limited* (its message says so, and by how much), and a ``mismatch`` is off by more
than the dtype's rounding.
"""

from __future__ import annotations

from dataclasses import replace

from ..precision import DEFAULT_DTYPE, unit_roundoff
from ..status import Status
from .grade import Verdict

#: The first words of a precision-limited verdict's message.
PRECISION_LIMITED = "precision-limited"


def note(verdict: Verdict, dtype: str, tolerance: float) -> Verdict:
    """``verdict`` of an engine computing in ``dtype`` graded at ``tolerance``, its message
    saying whether the error is precision-limited (``ok``, but beyond the same tolerance
    scaled to float64: ``tolerance * u(float64) / u(dtype)``) or beyond the dtype's rounding
    (``mismatch``). Any other verdict, and every float64 one, as it is."""
    if dtype == DEFAULT_DTYPE or not verdict.error == verdict.error:  # nan: no error measured
        return verdict
    in_float64 = tolerance * unit_roundoff(DEFAULT_DTYPE) / unit_roundoff(dtype)
    if verdict.status == Status.OK and verdict.error > in_float64:
        return replace(verdict, message=f"{PRECISION_LIMITED}: error {verdict.error:.3g}, "
                       f"within {dtype}'s tolerance {tolerance:.3g} but beyond the same "
                       f"tolerance scaled to float64 ({in_float64:.3g})")
    if verdict.status == Status.MISMATCH:
        return replace(verdict, message=f"{verdict.message} (off by more than {dtype} "
                       f"rounding: error {verdict.error:.3g} > tolerance {tolerance:.3g})")
    return verdict


__all__ = ["PRECISION_LIMITED", "note"]
