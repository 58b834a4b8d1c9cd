"""The namespace the vector-Jacobian rules build with: operations by name over one backend's op
table (graph nodes for symbolic gradients, NumPy arrays for local partial derivatives)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Rule = Callable[..., tuple[Any, ...]]


class Namespace:
    """Operations by name for the rules: ``k.cos(a)``, ``k.where(c, g, 0)``, over one op table.

    ``lift`` turns the numbers a rule writes (``0``, ``2``) into the table's values where the
    table needs that (graph nodes); NumPy takes them as they are.
    """

    def __init__(self, ops: Mapping[str, Callable[..., Any]],
                 lift: Callable[[Any], Any] = lambda value: value) -> None:
        self._ops, self._lift = ops, lift

    def __getattr__(self, name: str) -> Callable[..., Any]:
        function, lift = self._ops[name], self._lift
        if name == "const":  # a literal ('pi', 1/3) is the argument itself
            return function
        return lambda *args: function(*[lift(a) for a in args])

    def raw(self, name: str) -> Callable[..., Any]:
        """The op ``name`` with its trailing arguments passed as they are (an axis, a key, a
        shape)."""
        function, lift = self._ops[name], self._lift
        return lambda value, *raw: function(lift(value), *raw)

    def listed(self, name: str) -> Callable[..., Any]:
        """The op ``name`` of a list of values (``einsum(parts, spec)``), its trailing arguments
        passed as they are."""
        function, lift = self._ops[name], self._lift
        return lambda parts, *raw: function([lift(p) for p in parts], *raw)


def sum_along(k: Namespace, x: Any, axis: int | None) -> Any:
    """``sum(x, axis)`` in the namespace ``k``."""
    return k.raw("sum")(x, axis)
