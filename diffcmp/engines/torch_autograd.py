"""``torch``: the loss built from PyTorch ops, gradient by reverse-mode autograd, float64.

The loss is the case's own expression evaluated with ``torch`` functions (``X @ w`` is one
``matmul``), so timings say what PyTorch costs. Runs on ``threads`` intra-op threads (default 1).
In another ``dtype`` (``torch[float32]``, issue 21) the params, data and literals are tensors of
that dtype (rounded as they are converted), and on ``device="cuda"`` they live on the GPU; every
call waits for the GPU (``torch.cuda.synchronize``) before it returns, so a timer reads the
clock after the work, not after its launch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import UnsupportedError
from ..ops.torch import DTYPES, ops_for
from ..symbolic.problem import Problem
from .base import Engine, Phase, Prepared


class TorchEngine(Engine):
    """PyTorch autograd on float64 tensors (or ``dtype`` ones, on ``device``)."""

    offers = frozenset({"gradient", "hessian", "hvp"})

    name = "torch"

    @contextmanager
    def running(self) -> Iterator[None]:
        """PyTorch on ``threads`` intra-op threads, the caller's setting restored after."""
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def prepare(self, problem: Problem) -> Prepared:
        """Build the loss over torch ops; the first forward and backward are timed apart."""
        if self.device == "cuda" and not torch.cuda.is_available():
            raise UnsupportedError("device cuda: PyTorch sees no CUDA device "
                                   "(torch.cuda.is_available() is False)")
        kind, device = DTYPES[self.dtype], torch.device(self.device)
        prepared = Prepared(inputs=None, loss=None, grad=None, read=self._read)
        with prepared.step("build"):
            f = problem.loss_function(ops_for(self.dtype, self.device))
            data = {name: torch.from_numpy(np.array(value, dtype=np.float64)).to(device, kind)
                    for name, value in problem.data_values.items()}
        names = [v.name for v in problem.params]

        def inputs(x: np.ndarray) -> list[torch.Tensor]:
            parts = problem.split(np.array(x, dtype=np.float64))
            return [torch.from_numpy(parts[n]).to(device, kind).requires_grad_(
                self.leaves_require_grad) for n in names]

        def loss_of(leaves: list[torch.Tensor]) -> torch.Tensor:
            return f({**data, **dict(zip(names, leaves, strict=True))})

        def loss(leaves: list[torch.Tensor]) -> torch.Tensor:
            with torch.no_grad():
                return self._wait(loss_of(leaves))

        differentiated = self.differentiate(loss_of)

        def grad(leaves: list[torch.Tensor]) -> Any:
            return self._wait(differentiated(leaves))

        with prepared.step("first call"), _kernels(self.dtype, self.device):
            grad(inputs(problem.point))
        prepared.inputs, prepared.loss, prepared.grad = inputs, loss, grad
        prepared.phases.update(_second_order(problem, f, data, self._wait))
        return prepared

    def _wait(self, out: Any) -> Any:
        """``out``, once the GPU has finished computing it (on the CPU: at once)."""
        if self.device == "cuda":
            torch.cuda.synchronize()
        return out

    #: Whether the parameter tensors record autograd's graph (reverse mode needs it).
    leaves_require_grad: ClassVar[bool] = True

    def differentiate(self, loss_of: Callable[[list[torch.Tensor]], torch.Tensor]) -> Callable[
            [list[torch.Tensor]], tuple[torch.Tensor, tuple[torch.Tensor, ...]]]:
        """Loss and gradient, ``leaves -> (loss, grads)``, from the loss of the params: reverse
        mode, ``torch.autograd.grad`` (the one step ``torch-fwd`` replaces)."""
        def grad(leaves: list[torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
            value = loss_of(leaves)
            if not value.requires_grad:  # e.g. where(w > 0, 1, 2): no path from the params
                return value.detach(), tuple(torch.zeros_like(leaf) for leaf in leaves)
            return value.detach(), torch.autograd.grad(value, leaves, allow_unused=True,
                                                      materialize_grads=True)
        return grad

    @staticmethod
    def _read(out: tuple[torch.Tensor, tuple[torch.Tensor, ...]]) -> tuple[float, np.ndarray]:
        value, grads = out
        return float(value), np.concatenate([_numpy(g).ravel() for g in grads])


def _numpy(value: torch.Tensor) -> np.ndarray:
    """A tensor of any dtype, on any device, as a float64 NumPy array."""
    return value.detach().to("cpu", torch.float64).numpy()


@contextmanager
def _kernels(dtype: str, device: str) -> Iterator[None]:
    """PyTorch refusing an op in this dtype or on this device (``"addmm_impl_cpu_" not
    implemented for 'BFloat16'``) is ``unsupported``, naming the op, not an engine error."""
    try:
        yield
    except (RuntimeError, NotImplementedError) as exc:
        if "not implemented for" not in str(exc) and "not supported for" not in str(exc):
            raise
        raise UnsupportedError(f"PyTorch has no {dtype} kernel on {device} for an op of this "
                               f"loss: {str(exc).splitlines()[0]}") from None


def _second_order(problem: Problem, f: Any, data: dict[str, torch.Tensor],
                  wait: Callable[[Any], Any]) -> dict[str, Phase]:
    """``torch.func.hessian`` (forward over reverse) and the Hessian-vector product as
    ``torch.func.jvp`` of ``torch.func.grad`` (forward over reverse), over the flat
    parameters."""
    names = [v.name for v in problem.params]
    sizes = [v.size for v in problem.params]
    shapes = [v.shape for v in problem.params]

    def flat_loss(x: torch.Tensor) -> torch.Tensor:
        parts = [p.reshape(s) for p, s in zip(torch.split(x, sizes), shapes, strict=True)]
        return f({**data, **dict(zip(names, parts, strict=True))})

    hessian_of, grad_of = torch.func.hessian(flat_loss), torch.func.grad(flat_loss)

    def joined(leaves: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([leaf.detach().reshape(-1) for leaf in leaves])

    def hessian(leaves: list[torch.Tensor]) -> torch.Tensor:
        return wait(hessian_of(joined(leaves)))

    def hvp(leaves: list[torch.Tensor], direction: list[torch.Tensor]) -> torch.Tensor:
        return wait(torch.func.jvp(grad_of, (joined(leaves),), (joined(direction),))[1])

    def read(out: torch.Tensor) -> np.ndarray:
        return _numpy(out).ravel()

    return {"hessian": Phase(hessian, read), "hvp": Phase(hvp, read)}
