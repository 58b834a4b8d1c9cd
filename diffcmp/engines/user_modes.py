"""Your own code's derivatives beyond its reverse-mode gradient (:func:`diffcmp.check`), and the
values it returns read as flat float64 vectors.

* **Framework Hessian** (``order=2``): ``torch.func.hessian`` or ``jax.hessian`` of your loss
  over the flat params (for a ``torch.autograd.Function`` without vmap support, the same
  forward-over-reverse columns one ``torch.func.jvp`` at a time); the framework
  Hessian-vector product is ``torch.func.jvp`` / ``jax.jvp`` of the gradient (forward over
  reverse), as the built-in ``torch`` and ``jax`` engines take theirs. Not jitted: the
  function is yours, as written. A function that returns ``(loss, grads)`` has none: its
  phases raise :class:`~diffcmp.errors.UnsupportedError`, which says why
  (:func:`refused_phases`).
* **Forward mode** (``modes=("fwd", ...)``): for PyTorch, ``torch.autograd.forward_ad``, one
  dual-number pass per param element (the columns ``torch.func.jacfwd`` computes, without
  asking a custom ``torch.autograd.Function`` for vmap support); for JAX, ``jax.jacfwd``. A
  ``torch.autograd.Function``'s ``jvp`` staticmethod and a ``jax.custom_jvp`` rule are what
  forward mode runs, so a wrong one shows here. Forward mode that cannot run through the
  function (an ``autograd.Function`` without ``jvp``; a ``jax.custom_vjp``, which JAX refuses
  to differentiate forward) is :class:`~diffcmp.errors.UnsupportedError`, with the framework's
  own sentence.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from ..errors import DiffcmpError, UnsupportedError
from .base import Phase

Shapes = Mapping[str, tuple[int, ...]]
#: The user's loss on ``{param name: framework value}`` (data bound already).
Loss = Callable[[dict[str, Any]], Any]
Context = Callable[[], AbstractContextManager[Any]]


def plain(value: Any) -> np.ndarray:
    """A PyTorch, JAX or NumPy value (or number) as a NumPy array, complex kept."""
    if all(hasattr(value, name) for name in ("detach", "cpu", "numpy")):
        tensor = value.detach().cpu()
        return tensor.resolve_conj().numpy() if tensor.is_complex() else tensor.double().numpy()
    return np.asarray(value)


def array_like(value: Any) -> bool:
    """A NumPy, PyTorch or JAX array or a number: what a single param's bare gradient can be."""
    if isinstance(value, bool):
        return False
    return isinstance(value, np.ndarray | np.generic | int | float) or \
        hasattr(value, "__array__") or hasattr(value, "detach")


def flat_values(values: Mapping[str, Any] | Any, shapes: Shapes,
                what: str = "the gradient") -> np.ndarray:
    """``what`` (a dict by param name, or a single param's bare array) as one flat float64
    vector in the params' order, checked against their shapes."""
    if not isinstance(values, Mapping) and len(shapes) == 1 and array_like(values):
        values = {next(iter(shapes)): values}
    if not isinstance(values, Mapping):
        raise DiffcmpError(f"{what} must be a dict by param name, not {type(values).__name__}")
    extra = sorted(set(map(str, values)) - set(shapes))
    if extra:
        raise DiffcmpError(f"{what} has an entry '{extra[0]}', which is no param (params: "
                           f"{', '.join(shapes)})")
    parts = []
    for name, shape in shapes.items():
        if name not in values:
            raise DiffcmpError(f"{what} has no entry for the param '{name}' (it has: "
                               f"{', '.join(map(str, values)) or 'none'})")
        if values[name] is None:
            raise DiffcmpError(f"{what} of '{name}' is None")
        array = plain(values[name])
        size = int(np.prod(shape))
        if array.shape != shape and not (array.size == size == 1):
            raise DiffcmpError(f"{what} of '{name}' has shape {array.shape}, but the param "
                               f"has shape {shape}")
        parts.append(np.real(array).astype(np.float64).ravel())
    return np.concatenate(parts)


def _read(out: Any) -> np.ndarray:
    return plain(out).astype(np.float64).ravel()


def _flat_loss(framework: str, shapes: Shapes, loss: Loss) -> Callable[[Any], Any]:
    """The loss of one flat vector of all params (split and reshaped in the params' order)."""
    names, dims = list(shapes), list(shapes.values())
    sizes = [int(np.prod(s)) for s in dims]
    if framework == "torch":
        torch = importlib.import_module("torch")

        def split(x: Any) -> list[Any]:
            return list(torch.split(x, sizes))
    else:
        jnp = importlib.import_module("jax.numpy")
        cuts = [int(c) for c in np.cumsum(sizes)[:-1]]

        def split(x: Any) -> list[Any]:
            return list(jnp.split(x, cuts))

    def flat_loss(x: Any) -> Any:
        return loss({n: p.reshape(s) for n, p, s in zip(names, split(x), dims, strict=True)})

    return flat_loss


def _joined(framework: str, values: Mapping[str, Any]) -> Any:
    if framework == "torch":
        torch = importlib.import_module("torch")
        return torch.cat([v.detach().reshape(-1) for v in values.values()])
    jnp = importlib.import_module("jax.numpy")
    return jnp.concatenate([jnp.ravel(v) for v in values.values()])


def framework_phases(framework: str, shapes: Shapes, loss: Loss,
                     context: Context) -> dict[str, Phase]:
    """The framework's Hessian and Hessian-vector product of ``loss`` (see the module
    docstring), on the engine's inputs (``{name: tensor or array}``)."""
    f = _flat_loss(framework, shapes, loss)
    if framework == "torch":
        torch = importlib.import_module("torch")
        func = importlib.import_module("torch.func")
        hessian_of, grad_of = func.hessian(f), func.grad(f)

        def hessian(params: Mapping[str, Any]) -> Any:
            x = _joined(framework, params)
            try:
                return hessian_of(x)
            except RuntimeError as exc:  # an autograd.Function without vmap support
                if "vmap" not in str(exc):
                    raise
            eye = torch.eye(x.numel(), dtype=x.dtype)  # the same columns, one jvp each
            return torch.stack([func.jvp(grad_of, (x,), (eye[k],))[1]
                                for k in range(x.numel())], dim=1)

        def hvp(params: Mapping[str, Any], direction: Mapping[str, Any]) -> Any:
            return func.jvp(grad_of, (_joined(framework, params),),
                            (_joined(framework, direction),))[1]

        return {"hessian": Phase(hessian, _read), "hvp": Phase(hvp, _read)}
    jax = importlib.import_module("jax")

    def jax_hessian(params: Mapping[str, Any]) -> Any:
        with context():
            return _forward_only(lambda: jax.block_until_ready(
                jax.hessian(f)(_joined(framework, params))))

    def jax_hvp(params: Mapping[str, Any], direction: Mapping[str, Any]) -> Any:
        with context():
            return _forward_only(lambda: jax.block_until_ready(jax.jvp(
                jax.grad(f), (_joined(framework, params),), (_joined(framework, direction),))[1]))

    return {"hessian": Phase(jax_hessian, _read), "hvp": Phase(jax_hvp, _read)}


def refused_phases(reason: Callable[[str], str]) -> dict[str, Phase]:
    """Phases that are ``unsupported`` with ``reason(phase)`` when called."""
    def refuse(phase: str) -> Callable[..., Any]:
        def call(*_: Any) -> Any:
            raise UnsupportedError(reason(phase))
        return call
    return {phase: Phase(refuse(phase), _read) for phase in ("hessian", "hvp")}


def forward_gradient(framework: str, shapes: Shapes, loss: Loss,
                     context: Context) -> Callable[[dict[str, Any]], tuple[Any, dict[str, Any]]]:
    """``params -> (loss, {name: gradient})`` by forward mode (see the module docstring)."""
    f = _flat_loss(framework, shapes, loss)
    names, dims = list(shapes), list(shapes.values())
    cuts = [int(c) for c in np.cumsum([int(np.prod(s)) for s in dims])[:-1]]

    def grads(flat: np.ndarray) -> dict[str, Any]:
        return {n: p.reshape(s) for n, p, s in zip(names, np.split(flat, cuts), dims,
                                                   strict=True)}

    if framework == "torch":
        torch = importlib.import_module("torch")
        dual = importlib.import_module("torch.autograd.forward_ad")

        def columns(x: Any) -> tuple[Any, np.ndarray]:
            value, found = None, np.zeros(x.numel())
            for k in range(x.numel()):
                with dual.dual_level():
                    basis = torch.zeros_like(x)
                    basis[k] = 1.0
                    out = f(dual.make_dual(x, basis))
                    if not isinstance(out, torch.Tensor):
                        raise DiffcmpError(f"the function returned a {type(out).__name__}, not a "
                                           "tensor: PyTorch cannot differentiate it")
                    primal, tangent = dual.unpack_dual(out)
                    value = primal.detach()
                    if tangent is not None:  # None: no path from the params to the loss
                        found[k] = float(plain(tangent).real.reshape(-1)[0])
            return value, found

        def torch_forward(params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            value, found = _forward_only(lambda: columns(_joined(framework, params)))
            return value, grads(found)

        return torch_forward
    jax = importlib.import_module("jax")
    with context():
        jacobian = jax.jacfwd(lambda x: (f(x), f(x)), has_aux=True)

    def jax_forward(params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        with context():
            found, value = _forward_only(lambda: jax.block_until_ready(
                jacobian(_joined(framework, params))))
            return value, grads(np.asarray(found, dtype=np.float64))

    return jax_forward


def _forward_only(call: Callable[[], Any]) -> Any:
    """``call()``, with forward mode that cannot run through the function said as
    ``unsupported``: a ``torch.autograd.Function`` without ``jvp``, a ``jax.custom_vjp`` (whose
    Hessian, forward over reverse, JAX refuses too)."""
    try:
        return call()
    except NotImplementedError as exc:
        if "jvp" not in str(exc):
            raise
        raise UnsupportedError(f"forward mode cannot run through your function: {exc}") from None
    except TypeError as exc:
        if "custom_vjp" not in str(exc):
            raise
        raise UnsupportedError(f"forward mode cannot run through your function: {exc} (JAX "
                               "differentiates a jax.custom_vjp in reverse mode only; a "
                               "jax.custom_jvp rule is what forward mode checks)") from None


__all__ = ["array_like", "flat_values", "forward_gradient", "framework_phases", "plain",
           "refused_phases"]
