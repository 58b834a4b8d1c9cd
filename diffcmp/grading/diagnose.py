"""Why an engine's gradient is NaN where the reference's is finite: the likely cause, named.

The loss's computational graph is evaluated node by node at the point in real-valued mpmath
(:mod:`diffcmp.ops.mpmath`, which gives ``nan`` or an infinity instead of raising) at float64's
53-bit precision, so it sees what a float64 engine sees (``1 - tanh(60)`` is 0), without
float64's range (an overflow shows as a value past it). Three classic causes are looked for, in
this order:

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
import sympy as sp

from ..ops import mpmath as mpmath_ops
from ..symbolic.graph import short
from ..symbolic.translate import compile_sympy

#: float64's precision, in bits.
FLOAT64_BITS = 53
#: The largest float64.
FLOAT64_MAX = mpmath.mpf(1.7976931348623157e308)


def _finite(value: Any) -> bool:
    return isinstance(value, mpmath.mpf) and mpmath.isfinite(value)


class Diagnosis:
    """Finds the likely cause of a non-finite gradient for one problem's loss."""

    def __init__(self, loss: sp.Expr, symbols: Sequence[sp.Symbol]) -> None:
        self.loss = loss
        self.symbols = list(symbols)
        self._program: Any = None

    def cause(self, values: Sequence[float]) -> str:
        """The likely cause at the point ``values`` (one per symbol), or ``""``."""
        with mpmath.workprec(FLOAT64_BITS):
            try:
                if self._program is None:
                    self._program = compile_sympy(self.loss, mpmath_ops.OPS, self.symbols)
                memory = self._program.trace([mpmath.mpf(float(v)) for v in values])
            except Exception:  # a value diffcmp cannot trace: no diagnosis, never a crash
                return ""
            value = {node: memory[slot] for node, slot in self._program.slots.items()}
            return (self._unselected_branch(value) or self._infinite_slope(value)
                    or self._overflow(value))

    @staticmethod
    def _unselected_branch(value: dict[sp.Basic, Any]) -> str:
        for node in value:
            if not isinstance(node, sp.Piecewise):
                continue
            taken = next((i for i, (_, c) in enumerate(node.args)
                          if c is sp.true or bool(value.get(c, False))), None)
            for i, (branch, condition) in enumerate(node.args):
                if i != taken and branch in value and not _finite(value[branch]):
                    return (f"where(): the branch not taken, {short(branch, 50)}, is "
                            f"{mpmath.nstr(value[branch], 5)} here (its condition "
                            f"{short(condition, 50)} is false), and reverse mode multiplies its "
                            "zero adjoint by an infinite local derivative (0 * inf = nan; JAX "
                            "issue 1052, PyTorch issue 23395). Fix: the double where, making "
                            "the branch's input safe where it is not taken, e.g. "
                            "where(c, f(where(c, x, 1)), g)")
        return ""

    @staticmethod
    def _infinite_slope(value: dict[sp.Basic, Any]) -> str:
        for node in value:
            if isinstance(node, sp.Pow) and node.exp.is_number and node.exp < 1 \
                    and not node.exp.is_integer and value.get(node.base) == 0:
                return (f"{short(node, 50)} at 0 on the path: the derivative of a square root "
                        "(or a norm) is infinite at 0")
            if isinstance(node, sp.log) and value.get(node.args[0]) == 0:
                return f"{short(node, 50)} at 0 on the path: log's derivative is infinite at 0"
        return ""

    @staticmethod
    def _overflow(value: dict[sp.Basic, Any]) -> str:
        for node, v in value.items():
            if _finite(v) and abs(v) > FLOAT64_MAX:
                return (f"overflow: the intermediate {short(node, 50)} is {mpmath.nstr(v, 5)}, "
                        "beyond float64")
        return ""
