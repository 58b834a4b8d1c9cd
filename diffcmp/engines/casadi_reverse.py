"""``casadi``: the loss built once from CasADi ops (:mod:`diffcmp.ops.casadi`) on an MX graph of a
symbolic float64 column of every parameter, its gradient by ``casadi.gradient`` (reverse mode),
both in one ``casadi.Function``.

MX (CasADi's matrix graph) rather than SX (its scalar graph): a matrix product of data with the
parameters is one node, whatever the data's size, where SX would expand it element by element
(the sweeps' 100000 rows). CasADi's values are matrices: a case with an array of more than two
dimensions is ``unsupported`` (:attr:`~GraphTableEngine.most_dimensions`), and so is one using an
op CasADi lacks on MX (:mod:`diffcmp.ops.casadi`). Building the graph, deriving and creating
the ``Function`` are steps of ``prepare`` (:mod:`diffcmp.engines.graph_table`). The Hessian is
``casadi.hessian`` (forward over reverse), the Hessian-vector product ``casadi.jtimes`` of the
gradient along ``v`` (forward over reverse).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph_table import Compiled, GraphTableEngine


def _raw(value: Any) -> Any:
    """A table value's CasADi expression (``Mat.x``), any other value as it is."""
    return getattr(value, "x", value)


class CasadiEngine(GraphTableEngine):
    """CasADi's reverse mode on an MX graph over its op table, one Function, float64."""

    name = "casadi"
    framework = ("casadi", "casadi")
    table_module = "diffcmp.ops.casadi"
    most_dimensions = 2

    def variable(self, size: int) -> Any:
        """A symbolic MX column of ``size`` values, as the table's vector."""
        casadi, table = self.load()
        return table.Mat(casadi.MX.sym("x", size, 1), (size,))

    def constant(self, values: np.ndarray) -> Any:
        """The table's constant (a DM, NumPy's shape beside it)."""
        return self.load()[1].array(values)

    def scalar(self, value: Any) -> Any:
        """The loss's 1 x 1 expression."""
        return _raw(value)

    def gradient(self, loss: Any, x: Any) -> Any:
        """``casadi.gradient``: reverse mode for a scalar."""
        return self.load()[0].gradient(loss, _raw(x))

    def hessian(self, loss: Any, x: Any) -> Any:
        """``casadi.hessian`` (the Hessian, without its gradient)."""
        return self.load()[0].hessian(loss, _raw(x))[0]

    def hvp(self, loss: Any, x: Any, v: Any) -> Any:
        """``casadi.jtimes`` of the gradient along ``v``: forward over reverse."""
        casadi = self.load()[0]
        return casadi.jtimes(casadi.gradient(loss, _raw(x)), _raw(x), _raw(v))

    def compile(self, inputs: list[Any], outputs: list[Any]) -> Compiled:
        """One ``casadi.Function``, called on DM inputs (:meth:`convert`)."""
        function = self.load()[0].Function(self.name, [_raw(i) for i in inputs], outputs)
        return lambda *args: function.call(list(args))

    def convert(self, x: np.ndarray) -> Any:
        """A flat point as a DM column."""
        return self.load()[0].DM(np.array(x, dtype=np.float64))
