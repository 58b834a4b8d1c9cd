"""``pytensor``: the loss built once from PyTensor ops (:mod:`diffcmp.ops.pytensor`) on a symbolic
float64 vector of every parameter, ``pytensor.grad``, compiled once with ``pytensor.function``.

PyTensor's default mode is kept, as a PyTensor user gets it, less one rewrite
(:data:`EXCLUDED`): graph rewrites (``fast_run``) and the C linker (the ops compiled to C with
the system's compiler, ``gcc``, cached in ``pytensor.config.compiledir``, ``~/.pytensor`` unless
``PYTENSOR_FLAGS`` says otherwise, so a fresh clone compiles each op once, and later runs reuse
it). A machine without a C compiler gets PyTensor's own fallback (Python implementations of the
ops, with a warning). Building the graph, deriving and compiling are steps of ``prepare``
(:mod:`diffcmp.engines.graph_table`). The Hessian is ``pytensor.gradient.hessian`` (reverse over
reverse, a ``scan`` over the gradient's components), the Hessian-vector product the gradient of
``grad . v`` (reverse over reverse).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph_table import Compiled, GraphTableEngine

#: Rewrites left out of PyTensor's default mode: ``local_greedy_distributor``'s search of
#: products and quotients grows exponentially with a nested product's depth (the 8 iterations
#: of ``num_logistic_map`` compiled for over 300 s with it, in 3 to 7 s without it).
EXCLUDED = ("local_greedy_distributor",)


class PyTensorEngine(GraphTableEngine):
    """PyTensor's symbolic reverse mode over its op table, compiled once, float64."""

    name = "pytensor"
    framework = ("pytensor", "pytensor")
    table_module = "diffcmp.ops.pytensor"

    def variable(self, size: int) -> Any:
        """A float64 vector of static length ``size``."""
        return self.load()[0].tensor.vector(dtype="float64", shape=(size,))

    def constant(self, values: np.ndarray) -> Any:
        """A float64 constant tensor."""
        return self.load()[0].tensor.constant(values, dtype="float64")

    def scalar(self, value: Any) -> Any:
        """The loss as a 0-d float64 tensor."""
        return self.load()[0].tensor.as_tensor_variable(value).astype("float64")

    def gradient(self, loss: Any, x: Any) -> Any:
        """``pytensor.grad``: reverse mode on the graph."""
        return self.load()[0].grad(loss, x)

    def hessian(self, loss: Any, x: Any) -> Any:
        """``pytensor.gradient.hessian``."""
        return self.load()[0].gradient.hessian(loss, x)

    def hvp(self, loss: Any, x: Any, v: Any) -> Any:
        """The gradient of ``grad(loss) . v``."""
        pytensor = self.load()[0]
        return pytensor.grad(pytensor.tensor.dot(pytensor.grad(loss, x), v), x)

    def compile(self, inputs: list[Any], outputs: list[Any]) -> Compiled:
        """``pytensor.function`` in PyTensor's default mode; inputs taken as they are (no copy,
        no dtype check)."""
        pytensor = self.load()[0]
        mode = pytensor.compile.mode.get_default_mode().excluding(*EXCLUDED)
        function = pytensor.function(inputs, outputs, mode=mode, on_unused_input="ignore")
        function.trust_input = True
        return function
