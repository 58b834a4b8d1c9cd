"""The device PyTorch's and JAX's engines compute on (issue 21): is it there, and starting it.

``--device cuda`` asks both frameworks for their first GPU; where either has none that the run
needs, :func:`require` says so in one line (the command line exits 2), before any case runs.
:func:`prepare_environment` pins JAX to the CPU for a CPU run (JAX's own default is a GPU where
it finds one: a default run would time a GPU's JAX against a CPU's PyTorch) and stops it from
taking most of the GPU's memory at start for a CUDA one, where PyTorch shares the GPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping

from ..errors import DiffcmpError
from ..precision import DEFAULT_DEVICE, split_variant

TORCH_ENGINES = frozenset({"torch", "torch-fwd"})
JAX_ENGINES = frozenset({"jax", "jax-fwd"})


def prepare_environment(device: str, environ: MutableMapping[str, str] | None = None) -> None:
    """Set JAX's platform for a run on ``device`` in ``environ`` (default ``os.environ``, read
    by the worker processes as JAX starts), unless the user set it: ``JAX_PLATFORMS=cpu`` for a
    CPU run, ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` for a CUDA one."""
    environ = os.environ if environ is None else environ
    if device == DEFAULT_DEVICE:
        environ.setdefault("JAX_PLATFORMS", "cpu")
    else:
        environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def _frameworks(engines: Iterable[str]) -> tuple[bool, bool]:
    bases = {split_variant(name)[0] for name in engines}
    return bool(bases & TORCH_ENGINES), bool(bases & JAX_ENGINES)


def missing(device: str, engines: Iterable[str]) -> list[str]:
    """What the frameworks of ``engines`` lack to compute on ``device`` (nothing on the CPU):
    one phrase per framework. Imports PyTorch and JAX (only for ``cuda``)."""
    if device == DEFAULT_DEVICE:
        return []
    torch_used, jax_used = _frameworks(engines)
    lacking = []
    if torch_used:
        import torch

        if not torch.cuda.is_available():
            lacking.append("PyTorch sees no CUDA device (torch.cuda.is_available() is False)")
    if jax_used:
        import jax

        try:
            jax.devices("gpu")
        except RuntimeError:
            lacking.append("JAX has no GPU device (jax.devices('gpu') fails: is jax[cuda12] "
                           "installed?)")
    return lacking


def require(device: str, engines: Iterable[str]) -> None:
    """:class:`DiffcmpError` (one line) when ``device`` is asked for and the frameworks of
    ``engines`` cannot compute there."""
    lacking = missing(device, engines)
    if lacking:
        raise DiffcmpError(f"--device {device} asked for, but CUDA is not available: "
                           + "; ".join(lacking))


def start(device: str, engines: Iterable[str]) -> None:
    """Create each framework's GPU context now (a worker starting, before its memory limit
    applies and outside any case's timings); nothing on the CPU."""
    if device == DEFAULT_DEVICE:
        return
    torch_used, jax_used = _frameworks(engines)
    if torch_used:
        import torch

        if torch.cuda.is_available():
            torch.zeros(1, device="cuda").add_(1)
            torch.cuda.synchronize()
    if jax_used:
        import jax

        try:
            jax.block_until_ready(jax.device_put(1.0, jax.devices("gpu")[0]))
        except RuntimeError:  # no GPU: each engine says so in its rows
            pass


__all__ = ["JAX_ENGINES", "TORCH_ENGINES", "missing", "prepare_environment", "require", "start"]
