"""``jax-fwd``: the ``jax`` engine's loss, gradient by forward mode, ``jax.jit(jax.jacfwd)``.

Everything but the derivative is :class:`~diffcmp.engines.jax_autograd.JaxEngine`'s (the loss
from ``jax.numpy`` ops, float64 inside a local ``jax.enable_x64(True)``, tracing and compiling
timed as their own steps). The gradient of the scalar loss is its Jacobian by forward mode over
the params: one JVP per parameter element (batched by ``vmap``), so it costs about n losses
where reverse mode costs a constant few. The loss comes from the same call (``has_aux``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from .jax_autograd import JaxEngine


class JaxForwardEngine(JaxEngine):
    """JAX forward mode (``jax.jacfwd``), jitted, float64 inside a local ``enable_x64``."""

    #: forward mode grades the gradient; second order is the reverse engine's (forward over
    #: reverse)
    offers = frozenset({"gradient"})

    name = "jax-fwd"

    def differentiate(self, loss_of: Callable[..., Any]) -> Callable[..., Any]:
        """Loss and gradient by ``jax.jacfwd`` over the params, the loss as its aux."""
        jacobian = jax.jacfwd(lambda params, data: (loss_of(params, data),) * 2, has_aux=True)

        def value_and_grad(params: tuple[Any, ...], data: dict[str, Any]) -> Any:
            grads, value = jacobian(params, data)
            return value, grads
        return value_and_grad
