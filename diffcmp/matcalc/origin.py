"""Where a value that is not finite comes from: the first operation of an array graph whose
result is undefined while its own arguments are not, found by walking back from an output.

A ``where`` passes the walk to the branch it selects at the undefined element (the branch it does
not select is no part of the value, whatever it holds), every other operation to its first
argument that holds an undefined element. The walk ends at an operation whose arguments are all
defined: that operation is the origin (``log`` of an argument that is 0), named with its
arguments' values at the element and, where an argument is a parameter, the component it is
(``log(0) at w[0]``). It works over any backend's values; ``bad`` says what is undefined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ops.spec import ELEMENTWISE, OPERATOR, SPEC
from .graph import Node


@dataclass(frozen=True)
class Origin:
    """The op an undefined value comes from, and the element of its result that is."""

    node: Node
    #: The first undefined element of ``node``'s result (``()`` for a scalar).
    index: tuple[int, ...]


def _mask(value: Any, shape: tuple[int, ...], bad: Callable[[Any], bool]) -> np.ndarray:
    array = np.broadcast_to(np.asarray(value, dtype=object), shape)
    if not array.size:
        return np.zeros(shape, dtype=bool)
    return np.asarray(np.frompyfunc(bad, 1, 1)(array), dtype=bool)


def origin(root: Node, value: Mapping[int, Any], bad: Callable[[Any], bool]) -> Origin | None:
    """The origin of ``root``'s first undefined element (``value``: every node's value by node
    id), or ``None`` when ``root`` holds none."""
    node = root
    mask = _mask(value[id(node)], node.shape, bad)
    if not mask.any():
        return None
    while True:
        index = tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()
        following = None
        if node.op == "where":
            condition = np.broadcast_to(np.asarray(value[id(node.args[0])], dtype=object),
                                        node.shape)
            branch = node.args[1] if condition[index] else node.args[2]
            if _mask(value[id(branch)], node.shape, bad)[index]:
                following = branch
        else:
            for arg in node.args:
                if arg.dtype == "real" and _mask(value[id(arg)], arg.shape, bad).any():
                    following = arg
                    break
        if following is None:
            return Origin(node, index)
        node = following
        mask = _mask(value[id(node)], node.shape, bad)


def _elementwise(node: Node) -> bool:
    op = SPEC.get(node.op)
    return op is not None and op.kind in (ELEMENTWISE, OPERATOR) and node.op not in (
        "matmul", "transpose")


def arguments(found: Origin, value: Mapping[int, Any]) -> list[Any] | None:
    """The origin's arguments at its undefined element, for an elementwise op (``None`` for
    others, whose elements mix several of their arguments')."""
    if not _elementwise(found.node):
        return None
    return [np.broadcast_to(np.asarray(value[id(a)], dtype=object), found.node.shape)[found.index]
            for a in found.node.args]


def leaf_element(found: Origin) -> tuple[str, tuple[int, ...]] | None:
    """The parameter an elementwise origin applies to directly, and which element of it:
    ``("w", (0,))`` for ``log(w)`` at ``w[0]`` (``None`` when no argument is a parameter)."""
    if not _elementwise(found.node):
        return None
    for arg in found.node.args:
        if arg.op == "var" and arg.raw[1] == "param":
            shape = arg.shape
            index = found.index[len(found.index) - len(shape):] if shape else ()
            return arg.raw[0], tuple(0 if n == 1 else i for i, n in zip(index, shape,
                                                                         strict=True))
    return None
