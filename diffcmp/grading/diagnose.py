"""Why an engine's gradient is NaN where the reference's is finite: the likely cause, named.

The loss as written (its array graph, :mod:`diffcmp.matcalc.graph`) is evaluated node by node at
the point in real-valued mpmath (:mod:`diffcmp.ops.mpmath`, which gives ``nan`` or an infinity
instead of raising) at float64's 53-bit precision, so it sees what a float64 engine sees (``1 -
tanh(60)`` is 0), without float64's range (an overflow shows as a value past it). Three classic
causes are looked for, in this order:

* a ``where`` branch that is not selected but is not finite: reverse mode sends it a zero
  adjoint and multiplies by its infinite local derivative, ``0 * inf = nan`` (JAX issue 1052,
  PyTorch issue 23395, the most reported autodiff surprise); the fix is the double ``where``;
* ``sqrt``, a norm or ``log`` at 0 on the path: an infinite local derivative;
* an intermediate beyond float64 (overflow).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np

from ..matcalc.evaluate import Program
from ..matcalc.graph import Node, topological
from ..matcalc.printer import formula
from ..ops import mpmath as mpmath_ops
from ..symbolic.graph import short
from ..symbolic.problem import Problem

#: float64's precision, in bits.
FLOAT64_BITS = 53
#: The largest float64.
FLOAT64_MAX = mpmath.mpf(1.7976931348623157e308)


def _elements(value: Any) -> list[Any]:
    return np.ravel(np.array(value, dtype=object)).tolist()


def _finite(value: Any) -> bool:
    return isinstance(value, mpmath.mpf) and bool(mpmath.isfinite(value))


def _text(node: Node, limit: int = 50) -> str:
    return short(formula(node), limit)


class Diagnosis:
    """Finds the likely cause of a non-finite gradient for one problem's loss."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self._nodes: list[Node] = []
        self._program: Any = None

    def cause(self, x: Sequence[float]) -> str:
        """The likely cause at the flat point ``x``, or ``""``."""
        with mpmath.workprec(FLOAT64_BITS):
            try:
                if self._program is None:
                    self._nodes = topological([self.problem.array_gradient.loss])
                    self._program = Program(self._nodes).compile(mpmath_ops.OPS,
                                                                 fresh_constants=True)
                env = {name: mpmath_ops.array(v) for name, v in
                       self.problem.environment(np.asarray(x, dtype=float)).items()}
                values = self._program(env)
            except Exception:  # a value diffcmp cannot trace: no diagnosis, never a crash
                return ""
        value = {id(node): v for node, v in zip(self._nodes, values, strict=True)}
        return (self._unselected_branch(value) or self._infinite_slope(value)
                or self._overflow(value))

    def _unselected_branch(self, value: dict[int, Any]) -> str:
        for node in self._nodes:
            if node.op != "where":
                continue
            condition, *branches = node.args
            taken = np.broadcast_to(np.array(value[id(condition)], dtype=bool), node.shape)
            for branch, selected in zip(branches, (taken, ~taken), strict=True):
                values = np.broadcast_to(np.array(value[id(branch)], dtype=object), node.shape)
                bad = [v for v, s in zip(values.ravel(), selected.ravel(), strict=True)
                       if not s and not _finite(v)]
                if bad:
                    return (f"where(): the branch not taken, {_text(branch)}, is "
                            f"{mpmath.nstr(bad[0], 5)} here (its condition "
                            f"{_text(condition)} does not select it), and reverse mode "
                            "multiplies its zero adjoint by an infinite local derivative "
                            "(0 * inf = nan; JAX issue 1052, PyTorch issue 23395). Fix: the "
                            "double where, making the branch's input safe where it is not "
                            "taken, e.g. where(c, f(where(c, x, 1)), g)")
        return ""

    def _infinite_slope(self, value: dict[int, Any]) -> str:
        for node in self._nodes:
            if node.op in ("sqrt", "norm") or (node.op == "pow" and len(node.args) == 2):
                zero = node.args[0] if node.op != "norm" else node
                if node.op == "pow" and not _fractional(node.args[1], value):
                    continue
                if any(v == 0 for v in _elements(value[id(zero)])):
                    return (f"{_text(node)} at 0 on the path: the derivative of a square root "
                            "(or a norm) is infinite at 0")
            if node.op == "log" and any(v == 0 for v in _elements(value[id(node.args[0])])):
                return f"{_text(node)} at 0 on the path: log's derivative is infinite at 0"
        return ""

    def _overflow(self, value: dict[int, Any]) -> str:
        for node in self._nodes:
            big = [v for v in _elements(value[id(node)]) if _finite(v) and abs(v) > FLOAT64_MAX]
            if big:
                return (f"overflow: the intermediate {_text(node)} is {mpmath.nstr(big[0], 5)}, "
                        "beyond float64")
        return ""


def _fractional(exponent: Node, value: dict[int, Any]) -> bool:
    """An exponent below 1 that is not an integer (``x**0.5``: infinite slope at 0)."""
    return all(_finite(e) and e < 1 and not mpmath.isint(e) for e in
               _elements(value[id(exponent)]))
