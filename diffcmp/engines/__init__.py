"""The engine registry: one line per engine, name -> the module and class that implement it.

Modules are imported on first use, so ``import diffcmp`` does not import PyTorch or JAX.
"""

from __future__ import annotations

import importlib

from ..errors import DiffcmpError
from .base import Engine, Prepared

#: Engine name -> "module:Class" (relative to this package), in report order.
REGISTRY: dict[str, str] = {
    "reference": "reference_mpmath:ReferenceEngine",
    "sympy": "sympy_lambdify:SympyEngine",
    "torch": "torch_autograd:TorchEngine",
    "jax": "jax_autograd:JaxEngine",
    "fd-central": "fd_central:CentralDifferenceEngine",
    "fd-complex": "fd_complex:ComplexStepEngine",
}

ENGINE_NAMES = tuple(REGISTRY)


def engine_class(name: str) -> type[Engine]:
    """The class registered under ``name``."""
    try:
        module_name, class_name = REGISTRY[name].split(":")
    except KeyError:
        raise DiffcmpError(f"unknown engine '{name}' (known: {', '.join(REGISTRY)})") from None
    module = importlib.import_module(f".{module_name}", __name__)
    return getattr(module, class_name)


def get_engine(name: str, threads: int = 1) -> Engine:
    """A new engine instance by name."""
    return engine_class(name)(threads=threads)


__all__ = ["ENGINE_NAMES", "REGISTRY", "Engine", "Prepared", "engine_class", "get_engine"]
