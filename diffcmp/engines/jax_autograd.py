"""``jax``: the loss built from ``jax.numpy`` ops, ``jax.jit(jax.value_and_grad(...))``, float64.

JAX computes in float32 unless x64 is enabled. This engine enables it locally, with
``jax.enable_x64(True)`` around tracing, compiling and every call, and never changes the user's
global JAX configuration. Tracing (``lower``) and XLA compilation are timed as their own steps,
so compile time never lands in ``loss`` or ``grad``; results are waited for
(``block_until_ready``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..ops.jax import OPS
from ..symbolic.problem import Problem
from .base import Engine, Phase, Prepared


class JaxEngine(Engine):
    """JAX reverse mode, jitted, float64 inside a local ``enable_x64``."""

    offers = frozenset({"gradient", "hessian", "hvp"})

    name = "jax"

    @classmethod
    def start(cls) -> None:
        """Start XLA's CPU client and its thread pools (a few threads per core) with one tiny
        compiled call."""
        with jax.enable_x64(True):
            jax.block_until_ready(jax.jit(lambda a: a + 1)(jnp.zeros(2)))

    def prepare(self, problem: Problem) -> Prepared:
        """Trace and compile the gradient (:meth:`differentiate`) ahead of time (``loss`` on its
        first call), each step timed."""
        prepared = Prepared(inputs=None, loss=None, grad=None, read=self._read)
        names = [v.name for v in problem.params]
        with jax.enable_x64(True):
            with prepared.step("build"):
                f = problem.loss_function(OPS)
                data = {k: jnp.asarray(v, dtype=jnp.float64)
                        for k, v in problem.data_values.items()}

                def loss_of(params: tuple[Any, ...], data: dict[str, Any]) -> Any:
                    return f({**data, **dict(zip(names, params, strict=True))})

            example = self._convert(problem, problem.point, names)
            with prepared.step("trace"):
                lowered_grad = jax.jit(self.differentiate(loss_of)).lower(example, data)
            with prepared.step("compile"):
                compiled_grad = lowered_grad.compile()

        def inputs(x: np.ndarray) -> tuple[Any, ...]:
            with jax.enable_x64(True):
                return self._convert(problem, x, names)

        # the loss alone is only timed, never graded: traced and compiled on its first call (the
        # timer's warm-up), into the same prepare steps, so a run without timing skips it
        compiled_loss: list[Any] = []

        def loss(params: tuple[Any, ...]) -> Any:
            with jax.enable_x64(True):
                if not compiled_loss:
                    with prepared.step("trace"):
                        lowered_loss = jax.jit(loss_of).lower(example, data)
                    with prepared.step("compile"):
                        compiled_loss.append(lowered_loss.compile())
                return jax.block_until_ready(compiled_loss[0](params, data))

        def grad(params: tuple[Any, ...]) -> Any:
            with jax.enable_x64(True):
                return jax.block_until_ready(compiled_grad(params, data))

        with prepared.step("first call"):
            grad(inputs(problem.point))
        prepared.inputs, prepared.loss, prepared.grad = inputs, loss, grad
        prepared.phases.update(_second_order(problem, loss_of, data, prepared))
        return prepared

    def differentiate(self, loss_of: Callable[..., Any]) -> Callable[..., Any]:
        """Loss and gradient, ``(params, data) -> (loss, grads)``, from the loss of the params
        (the tuple ``params``, then ``data``): reverse mode, ``jax.value_and_grad`` (the one step
        ``jax-fwd`` replaces); traced and compiled by :meth:`prepare`."""
        return jax.value_and_grad(loss_of)

    @staticmethod
    def _convert(problem: Problem, x: np.ndarray, names: list[str]) -> tuple[Any, ...]:
        parts = problem.split(np.array(x, dtype=np.float64))
        return tuple(jnp.asarray(parts[n], dtype=jnp.float64) for n in names)

    @staticmethod
    def _read(out: Any) -> tuple[float, np.ndarray]:
        value, grads = out
        return float(value), np.concatenate([np.asarray(g, dtype=np.float64).ravel()
                                             for g in grads])


def _second_order(problem: Problem, loss_of: Any, data: dict[str, Any],
                  prepared: Prepared) -> dict[str, Phase]:
    """``jax.hessian`` (forward over reverse) and the Hessian-vector product as ``jax.jvp`` of
    ``jax.grad`` (forward over reverse), over the flat parameters, each jitted and compiled on
    its first call (timed into ``prepare_s`` as ``trace hessian``, ``compile hvp``, ...)."""
    sizes = [v.size for v in problem.params]
    shapes = [v.shape for v in problem.params]
    splits = list(np.cumsum(sizes)[:-1])

    def flat_loss(x: Any, data: dict[str, Any]) -> Any:
        parts = jnp.split(x, splits)
        return loss_of(tuple(p.reshape(s) for p, s in zip(parts, shapes, strict=True)), data)

    def product(x: Any, v: Any, data: dict[str, Any]) -> Any:
        return jax.jvp(lambda y: jax.grad(flat_loss)(y, data), (x,), (v,))[1]

    functions = {"hessian": jax.hessian(flat_loss), "hvp": product}
    compiled: dict[str, Any] = {}

    def joined(params: tuple[Any, ...]) -> Any:
        return jnp.concatenate([jnp.ravel(p) for p in params])

    def call(name: str, *args: Any) -> Any:
        with jax.enable_x64(True):
            if name not in compiled:
                with prepared.step(f"trace {name}"):
                    lowered = jax.jit(functions[name]).lower(*args, data)
                with prepared.step(f"compile {name}"):
                    compiled[name] = lowered.compile()
            return jax.block_until_ready(compiled[name](*args, data))

    def hessian(params: tuple[Any, ...]) -> Any:
        with jax.enable_x64(True):
            return call("hessian", joined(params))

    def hvp(params: tuple[Any, ...], direction: tuple[Any, ...]) -> Any:
        with jax.enable_x64(True):
            return call("hvp", joined(params), joined(direction))

    def read(out: Any) -> np.ndarray:
        return np.asarray(out, dtype=np.float64).ravel()

    return {"hessian": Phase(hessian, read), "hvp": Phase(hvp, read)}
