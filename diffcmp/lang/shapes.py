"""Shapes of the language's values: NumPy broadcasting, sizes and how errors name a shape."""

from __future__ import annotations

import math

Shape = tuple[int, ...]


def broadcast_shapes(shapes: list[Shape]) -> Shape:
    """The shape NumPy broadcasting gives ``shapes``; ``ValueError`` when they do not fit."""
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise ValueError(shapes)
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def shape_text(shape: Shape) -> str:
    """``scalar`` or ``(3, 2)``: a shape as errors name it."""
    return "scalar" if shape == () else "(" + ", ".join(str(n) for n in shape) + ")"


def size(shape: Shape) -> int:
    """The number of elements of an array of ``shape``."""
    return math.prod(shape)
