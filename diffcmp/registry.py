"""The engine registry: one line per engine, name -> the module and class that implement it.

Modules are imported on first use (:func:`engine_class`), so ``import diffcmp`` imports neither
PyTorch nor JAX, and validating a case's engine names (``[tolerance]``, ``[expect.status]``)
imports no engine.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import DiffcmpError

#: Engine name -> "module:Class" (under ``diffcmp.engines``), in report order.
REGISTRY: dict[str, str] = {
    "reference": "reference_mpmath:ReferenceEngine",
    "sympy": "sympy_lambdify:SympyEngine",
    "torch": "torch_autograd:TorchEngine",
    "jax": "jax_autograd:JaxEngine",
    "fd-central": "fd_central:CentralDifferenceEngine",
    "fd-complex": "fd_complex:ComplexStepEngine",
}

ENGINE_NAMES = tuple(REGISTRY)


def engine_class(name: str) -> type:
    """The :class:`~diffcmp.engines.base.Engine` subclass registered under ``name`` (its module
    imported on first use)."""
    try:
        module_name, class_name = REGISTRY[name].split(":")
    except KeyError:
        raise DiffcmpError(f"unknown engine '{name}' (known: {', '.join(REGISTRY)})") from None
    module = importlib.import_module(f"diffcmp.engines.{module_name}")
    return getattr(module, class_name)


def get_engine(name: str, threads: int = 1) -> Any:
    """A new :class:`~diffcmp.engines.base.Engine` instance by name."""
    return engine_class(name)(threads=threads)
