"""The engine registry: one line per engine, its name -> what it is (the module and class that
implement it, what it computes, its default tolerance and where that tolerance comes from).

What an engine *is* lives here, as data; how it works lives in its module, imported on first use
(:func:`engine_class`). So ``import diffcmp`` imports neither PyTorch nor JAX, and validating
engine names, tolerances and report metadata (``[tolerance]``, ``[expect.status]``, the parent
process of a run) imports no framework.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .errors import DiffcmpError

_ADBENCH = "the ADBench/GradBench rule, with the case's floor (see diffcmp.grading.grade)"


@dataclass(frozen=True)
class EngineInfo:
    """One registered engine: where it is implemented and what it is graded by."""

    #: ``"module:Class"`` under ``diffcmp.engines``.
    implementation: str
    #: One line for the report: what this engine computes.
    summary: str
    #: Default tolerance on the graded error (see :mod:`diffcmp.grading.grade`) ...
    tolerance: float
    #: ... and where it comes from.
    tolerance_source: str
    #: Default tolerance on second derivatives (the Hessian, its product with a vector) ...
    second_tolerance: float = 1e-9
    #: ... and where it comes from.
    second_source: str = ("exact second derivatives (symbolic, or forward over reverse): "
                          "rounding only, of two passes in float64; the ADBench/GradBench rule, "
                          "with the Hessian's own floor")


#: Engine name -> what it is, in report order (one entry per engine).
REGISTRY: dict[str, EngineInfo] = {
    "reference": EngineInfo(
        "reference_arb:ReferenceEngine",
        "the loss as written and its exact vectorised gradient in ball arithmetic (Arb) from 50 "
        "significant digits, doubled until every value is proven",
        0.0, "the truth the other engines are graded against",
        0.0, "the truth the other engines are graded against"),
    "sympy": EngineInfo(
        "sympy_lambdify:SympyEngine",
        "SymPy's exact gradient compiled with lambdify (shared cse) to NumPy, float64",
        1e-10, f"float64 evaluation of the exact gradient: rounding only; {_ADBENCH}"),
    "matcalc": EngineInfo(
        "matcalc_numpy:MatcalcEngine",
        "the gradient derived symbolically at array level (matrix calculus: reverse mode over "
        "the loss as written), evaluated with NumPy, float64",
        1e-10, f"float64 evaluation of the exact vectorised gradient: rounding only; {_ADBENCH}"),
    "torch": EngineInfo(
        "torch_autograd:TorchEngine",
        "the loss from PyTorch ops, torch.autograd.grad, float64",
        1e-10, f"reverse mode is exact up to float64 rounding; {_ADBENCH}"),
    "torch-fwd": EngineInfo(
        "torch_forward:TorchForwardEngine",
        "the loss from PyTorch ops, forward mode: torch.func.jacfwd over the params (n JVPs), "
        "float64",
        1e-10, f"forward mode is exact up to float64 rounding; {_ADBENCH}"),
    "jax": EngineInfo(
        "jax_autograd:JaxEngine",
        "the loss from jax.numpy ops, jax.jit(jax.value_and_grad), float64 (local x64)",
        1e-10, f"reverse mode is exact up to float64 rounding; {_ADBENCH}"),
    "jax-fwd": EngineInfo(
        "jax_forward:JaxForwardEngine",
        "the loss from jax.numpy ops, forward mode: jax.jit(jax.jacfwd) over the params (n "
        "JVPs), float64 (local x64)",
        1e-10, f"forward mode is exact up to float64 rounding; {_ADBENCH}"),
    "fd-central": EngineInfo(
        "fd_central:CentralDifferenceEngine",
        "central differences of the float64 loss, step cbrt(eps) * max(1, |x|) (nearest power "
        "of two); its Hessian: second differences, step eps^(1/4) * max(1, |x|)",
        1e-6, "central differences with h = cbrt(eps): error O(eps^(2/3)) ~ 4e-11 times the "
        "scale of f''', so 1e-6 leaves room for curvature (Nocedal & Wright, Numerical "
        "Optimization, sec. 8.1)",
        1e-4, "second differences of the loss with h = eps^(1/4): error O(eps^(1/2)) ~ 1.5e-8 "
        "times the scale of f'''', so 1e-4 leaves room for curvature (Nocedal & Wright, "
        "sec. 8.1)"),
    "fd-complex": EngineInfo(
        "fd_complex:ComplexStepEngine",
        "complex-step derivative Im f(x + ih) / h, h = 1e-30 (analytic losses only); its "
        "Hessian: central differences of that gradient, step cbrt(eps) * max(1, |x|)",
        1e-10, "complex step is exact to rounding for analytic losses (Martins, Sturdza & "
        "Alonso 2003)",
        1e-6, "central differences (h = cbrt(eps)) of the exact complex-step gradient: error "
        "O(eps^(2/3)) ~ 4e-11 times the scale of f'''' (Nocedal & Wright, sec. 8.1)"),
}

ENGINE_NAMES = tuple(REGISTRY)


def engine_info(name: str) -> EngineInfo:
    """What the engine registered under ``name`` is; :class:`DiffcmpError` for an unknown name.
    Imports nothing."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise DiffcmpError(f"unknown engine '{name}' (known: {', '.join(REGISTRY)})") from None


def engine_class(name: str) -> type:
    """The :class:`~diffcmp.engines.base.Engine` subclass registered under ``name`` (its module
    imported on first use)."""
    module_name, class_name = engine_info(name).implementation.split(":")
    module = importlib.import_module(f"diffcmp.engines.{module_name}")
    return getattr(module, class_name)


def get_engine(name: str, threads: int = 1) -> Any:
    """A new :class:`~diffcmp.engines.base.Engine` instance by name."""
    return engine_class(name)(threads=threads)
