"""``torch-fwd``: the ``torch`` engine's loss, gradient by forward mode, ``torch.func.jacfwd``.

Everything but the derivative is :class:`~diffcmp.engines.torch_autograd.TorchEngine`'s (the
loss from PyTorch ops, float64, ``threads`` intra-op threads, the same timed steps). The
gradient of the scalar loss is its Jacobian by forward mode over the params: one JVP per
parameter element (batched by ``vmap``), so it costs about n losses where reverse mode costs a
constant few. The loss comes from the same call (``has_aux``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.func

from .torch_autograd import TorchEngine

# jacfwd's first call imports PyTorch's JVP decompositions, which are registered through
# torch.jit.script and so warn that it is deprecated: PyTorch's own business, not the user's.
# One tiny call here, with that warning silenced, does the import once.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
    torch.func.jacfwd(torch.sin)(torch.zeros((), dtype=torch.float64))


class TorchForwardEngine(TorchEngine):
    """PyTorch forward mode (``torch.func.jacfwd``) on float64 tensors."""

    #: forward mode grades the gradient; second order is the reverse engine's (forward over
    #: reverse)
    offers = frozenset({"gradient"})

    name = "torch-fwd"
    #: Forward mode carries tangents, not a graph: the params need no ``requires_grad``.
    leaves_require_grad: ClassVar[bool] = False

    def differentiate(self, loss_of: Callable[[list[torch.Tensor]], torch.Tensor]) -> Callable[
            [list[torch.Tensor]], tuple[torch.Tensor, tuple[torch.Tensor, ...]]]:
        """Loss and gradient by ``torch.func.jacfwd`` over every param, the loss as its aux."""
        def value_twice(*leaves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            value = loss_of(list(leaves))
            return value, value

        def grad(leaves: list[torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
            jacobian = torch.func.jacfwd(value_twice, argnums=tuple(range(len(leaves))),
                                         has_aux=True)
            grads, value = jacobian(*leaves)
            return value, tuple(grads)
        return grad
