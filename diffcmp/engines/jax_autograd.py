"""``jax``: the loss built from ``jax.numpy`` ops, ``jax.jit(jax.value_and_grad(...))``, float64.

JAX computes in float32 unless x64 is enabled. This engine enables it locally, with
``jax.enable_x64(True)`` around tracing, compiling and every call, and never changes the user's
global JAX configuration. Tracing (``lower``) and XLA compilation are timed as their own steps,
so compile time never lands in ``loss`` or ``grad``; results are waited for
(``block_until_ready``).

Issue 21: the engine computes on ``device`` (``cpu`` unless asked: JAX's own default is a GPU
where there is one, so a default run would compare a GPU's JAX with a CPU's PyTorch), every
array placed there and ``jax.default_device`` in force around tracing and calls. In another
``dtype`` (``jax[float32]``) params, data and literals are arrays of that dtype (rounded as they
are converted); x64 stays on, so nothing narrows or widens behind the engine's back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UnsupportedError
from ..ops.jax import DTYPES, ops_for
from ..symbolic.problem import Problem
from .base import Engine, Phase, Prepared


class JaxEngine(Engine):
    """JAX reverse mode, jitted, float64 inside a local ``enable_x64`` (or ``dtype``, on
    ``device``)."""

    offers = frozenset({"gradient", "hessian", "hvp"})

    name = "jax"

    @classmethod
    def start(cls) -> None:
        """Start XLA's CPU client and its thread pools (a few threads per core) with one tiny
        compiled call."""
        with jax.enable_x64(True), jax.default_device(jax.devices("cpu")[0]):
            jax.block_until_ready(jax.jit(lambda a: a + 1)(jnp.zeros(2)))

    @contextmanager
    def _context(self) -> Iterator[None]:
        """x64 and this engine's device, in force while it traces, compiles and computes."""
        with jax.enable_x64(True), jax.default_device(self._device()):
            yield

    def _device(self) -> Any:
        """The JAX device of :attr:`device`: the first CPU, or the first GPU for ``cuda``
        (``unsupported`` where JAX has none)."""
        try:
            return jax.devices("gpu" if self.device == "cuda" else "cpu")[0]
        except RuntimeError as exc:
            raise UnsupportedError(f"device {self.device}: JAX has no such device "
                                   f"({exc})") from None

    def prepare(self, problem: Problem) -> Prepared:
        """Trace and compile the gradient (:meth:`differentiate`) ahead of time (``loss`` on its
        first call), each step timed."""
        prepared = Prepared(inputs=None, loss=None, grad=None, read=self._read)
        names = [v.name for v in problem.params]
        device, kind = self._device(), DTYPES[self.dtype]
        with self._context(), _kernels(self.dtype):
            with prepared.step("build"):
                f = problem.loss_function(ops_for(self.dtype))
                data = {k: jax.device_put(jnp.asarray(np.asarray(v, dtype=np.float64),
                                                      dtype=kind), device)
                        for k, v in problem.data_values.items()}

                def loss_of(params: tuple[Any, ...], data: dict[str, Any]) -> Any:
                    return f({**data, **dict(zip(names, params, strict=True))})

            example = self._convert(problem, problem.point, names)
            with prepared.step("trace"):
                lowered_grad = jax.jit(self.differentiate(loss_of)).lower(example, data)
            with prepared.step("compile"):
                compiled_grad = lowered_grad.compile()

        def inputs(x: np.ndarray) -> tuple[Any, ...]:
            with self._context():
                return self._convert(problem, x, names)

        # the loss alone is only timed, never graded: traced and compiled on its first call (the
        # timer's warm-up), into the same prepare steps, so a run without timing skips it
        compiled_loss: list[Any] = []

        def loss(params: tuple[Any, ...]) -> Any:
            with self._context():
                if not compiled_loss:
                    with prepared.step("trace"):
                        lowered_loss = jax.jit(loss_of).lower(example, data)
                    with prepared.step("compile"):
                        compiled_loss.append(lowered_loss.compile())
                return jax.block_until_ready(compiled_loss[0](params, data))

        def grad(params: tuple[Any, ...]) -> Any:
            with self._context():
                return jax.block_until_ready(compiled_grad(params, data))

        with prepared.step("first call"), _kernels(self.dtype):
            grad(inputs(problem.point))
        prepared.inputs, prepared.loss, prepared.grad = inputs, loss, grad
        prepared.phases.update(_second_order(problem, loss_of, data, prepared, self._context))
        return prepared

    def differentiate(self, loss_of: Callable[..., Any]) -> Callable[..., Any]:
        """Loss and gradient, ``(params, data) -> (loss, grads)``, from the loss of the params
        (the tuple ``params``, then ``data``): reverse mode, ``jax.value_and_grad`` (the one step
        ``jax-fwd`` replaces); traced and compiled by :meth:`prepare`."""
        return jax.value_and_grad(loss_of)

    def _convert(self, problem: Problem, x: np.ndarray, names: list[str]) -> tuple[Any, ...]:
        parts = problem.split(np.array(x, dtype=np.float64))
        return tuple(jax.device_put(jnp.asarray(parts[n], dtype=DTYPES[self.dtype]),
                                    self._device()) for n in names)

    @staticmethod
    def _read(out: Any) -> tuple[float, np.ndarray]:
        value, grads = out
        return float(value), np.concatenate([np.asarray(g, dtype=np.float64).ravel()
                                             for g in grads])


@contextmanager
def _kernels(dtype: str) -> Iterator[None]:
    """JAX or XLA refusing an op in a dtype other than float64 (``bfloat16`` linear algebra) is
    ``unsupported``, naming the op, not an engine error."""
    try:
        yield
    except (TypeError, NotImplementedError, ValueError, RuntimeError) as exc:
        text = str(exc)
        if dtype == "float64" or not (dtype in text or "Unimplemented" in text
                                      or "not implemented" in text.lower()):
            raise
        raise UnsupportedError(f"JAX cannot compute this loss in {dtype}: "
                               f"{text.splitlines()[0]}") from None


def _second_order(problem: Problem, loss_of: Any, data: dict[str, Any],
                  prepared: Prepared, context: Callable[[], Any]) -> dict[str, Phase]:
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
        with context():
            if name not in compiled:
                with prepared.step(f"trace {name}"):
                    lowered = jax.jit(functions[name]).lower(*args, data)
                with prepared.step(f"compile {name}"):
                    compiled[name] = lowered.compile()
            return jax.block_until_ready(compiled[name](*args, data))

    def hessian(params: tuple[Any, ...]) -> Any:
        with context():
            return call("hessian", joined(params))

    def hvp(params: tuple[Any, ...], direction: tuple[Any, ...]) -> Any:
        with context():
            return call("hvp", joined(params), joined(direction))

    def read(out: Any) -> np.ndarray:
        return np.asarray(out, dtype=np.float64).ravel()

    return {"hessian": Phase(hessian, read), "hvp": Phase(hvp, read)}
