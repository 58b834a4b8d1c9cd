"""A diffcmp engine plugin: PyTorch over an op table of its own, gradient by torch.func, float64.

The whole plugin is this module and one entry point in its pyproject.toml:

    [project.entry-points."diffcmp.engines"]
    demo = "diffcmp_demo_engine:DemoEngine"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from diffcmp import OpTableEngine
from diffcmp.ops.spec import literal_to_float


def _axis(reduce: Callable[..., torch.Tensor]) -> Callable[[torch.Tensor, int | None],
                                                         torch.Tensor]:
    return lambda a, axis: reduce(a) if axis is None else reduce(a, axis)


OPS: dict[str, Callable[..., Any]] = {
    "const": lambda value: torch.tensor(literal_to_float(value), dtype=torch.float64),
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
    "pow": torch.pow, "neg": torch.neg, "matmul": torch.matmul,
    "transpose": lambda a: a.T if a.dim() == 2 else a,
    "index": lambda a, key: a[key], "reshape": torch.reshape,
    "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "square": torch.square,
    "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "log1p": torch.log1p, "abs": torch.abs,
    "sum": _axis(torch.sum), "mean": _axis(torch.mean), "dot": torch.dot,
}


class DemoEngine(OpTableEngine):
    """PyTorch on float64 tensors, over the table above."""

    summary = "the demo plugin: the loss over its own PyTorch op table, torch.func, float64"
    tolerance = 1e-10
    tolerance_source = "reverse mode is exact up to float64 rounding"
    OPS = OPS

    def array(self, values: np.ndarray) -> torch.Tensor:
        """A float64 tensor sharing ``values``."""
        return torch.from_numpy(values)

    def value_and_grad(self, loss: Callable[[tuple[Any, ...]], Any]) -> Callable[
            [tuple[Any, ...]], tuple[Any, Sequence[Any]]]:
        """``torch.func.grad_and_value`` over the tuple of params (it gives the gradient
        first)."""
        grad_and_value = torch.func.grad_and_value(loss)

        def value_and_grad(params: tuple[Any, ...]) -> tuple[Any, Sequence[Any]]:
            grads, value = grad_and_value(params)
            return value, grads

        return value_and_grad

    def to_numpy(self, value: Any) -> np.ndarray:
        """A tensor's values."""
        return value.detach().numpy()

    # optional, second order: over the loss of one flat vector of every parameter

    def hessian(self, loss: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``torch.func.hessian`` (forward over reverse)."""
        return torch.func.hessian(loss)

    def hvp(self, loss: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        """The forward-mode derivative of the gradient along ``v``."""
        grad = torch.func.grad(loss)
        return lambda x, v: torch.func.jvp(grad, (x,), (v,))[1]

