"""The engine registry: one line per engine, its name -> what it is (the module and class that
implement it, what it computes, its default tolerance and where that tolerance comes from).

What an engine *is* lives here, as data; how it works lives in its module, imported on first use
(:func:`engine_class`): neither ``import diffcmp`` nor validating engine names, tolerances and
report metadata (``[tolerance]``, ``[expect.status]``, a run's parent process) imports a framework.

Plugin engines (issue 20) come from other packages, one entry point each in the group
``diffcmp.engines`` (name: the engine's name, value: ``module:Class``, a subclass of
:class:`~diffcmp.engines.base.Engine` whose class attributes ``summary``, ``tolerance`` and
``tolerance_source`` say what it is). Listing their names imports nothing
(:func:`is_engine_name`); :func:`engine_names`, :func:`engine_info` and :func:`engine_class`
import a plugin's module on first use, and :func:`plugin_problems` says, one line each, which
failed to load (those are left out; the other engines run).
"""

from __future__ import annotations

import importlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DiffcmpError
from .precision import (
    DEFAULT_DEVICE,
    DEFAULT_DTYPE,
    dtype_tolerance,
    engine_device,
    split_variant,
    supports,
)

_ADBENCH = "the ADBench/GradBench rule, with the case's floor (see diffcmp.grading.grade)"
_REVERSE = f"reverse mode is exact up to float64 rounding; {_ADBENCH}"


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
    #: Where the engine comes from: :data:`BUILT_IN`, or ``plugin <package> <version>``.
    origin: str = "built in"
    #: Whether a run that names no engines (no ``--engines``, no ``[tool.diffcmp] engines``)
    #: uses it: not the built-in engines over an optional extra's framework (issue 20).
    default: bool = True


#: :attr:`EngineInfo.origin` of the engines that ship with diffcmp.
BUILT_IN = "built in"


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
        1e-10, _REVERSE),
    "torch-fwd": EngineInfo(
        "torch_forward:TorchForwardEngine",
        "the loss from PyTorch ops, forward mode: torch.func.jacfwd over the params (n JVPs), "
        "float64",
        1e-10, f"forward mode is exact up to float64 rounding; {_ADBENCH}"),
    "jax": EngineInfo(
        "jax_autograd:JaxEngine",
        "the loss from jax.numpy ops, jax.jit(jax.value_and_grad), float64 (local x64)",
        1e-10, _REVERSE),
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
    # optional frameworks (issue 20): each with its extra, in a run that names it
    "autograd": EngineInfo(
        "autograd_hips:AutogradEngine",
        "the loss from autograd.numpy ops (HIPS autograd), autograd.value_and_grad, float64",
        1e-10, _REVERSE, default=False),
    "tensorflow": EngineInfo(
        "tensorflow_tape:TensorflowEngine",
        "the loss from TensorFlow ops, tf.GradientTape in a tf.function traced for float64 "
        "inputs",
        1e-10, _REVERSE, default=False),
    "pytensor": EngineInfo(
        "pytensor_grad:PyTensorEngine",
        "the loss from PyTensor ops on a symbolic vector, pytensor.grad, compiled once with "
        "pytensor.function (default mode: C), float64 (optional: diffcmp[pytensor])",
        1e-10, _REVERSE, default=False),
    "casadi": EngineInfo(
        "casadi_reverse:CasadiEngine",
        "the loss from CasADi ops on an MX graph (arrays of 2 dimensions at most), reverse mode "
        "casadi.gradient in one casadi.Function, float64 (optional: diffcmp[casadi])",
        1e-10, _REVERSE, default=False),
    "fd-richardson": EngineInfo(
        "fd_richardson:RichardsonEngine",
        "numdifftools.Gradient: central differences of the float64 loss at a sequence of steps, "
        "Richardson-extrapolated, graded above its own error estimate (optional: "
        "diffcmp[fd-richardson])",
        1e-8, "numdifftools' error estimate of each component is its floor (numdifftools 0.11 "
        "docs: Gradient, full_output); beyond it, 1e-8 relative: Richardson extrapolation "
        "removes the error's even powers of h (D'Errico, DERIVEST); ADBench's floor at most",
        1e-6, "numdifftools.Hessian's error estimate of each entry is its floor (numdifftools "
        "0.11 docs); beyond it, extrapolated second differences: 1e-6 relative",
        default=False),
}

#: The built-in engines' names, in report order (:func:`engine_names` adds the plugins').
ENGINE_NAMES = tuple(REGISTRY)
#: The built-in engines of a run that names none (:attr:`EngineInfo.default`), in report order.
DEFAULT_ENGINES = tuple(name for name, info in REGISTRY.items() if info.default)


# --- dtypes (issue 21): ``torch[float32]`` is the ``torch`` engine run in float32 ----------------

def _variant_info(name: str) -> EngineInfo | None:
    """What ``torch[float32]`` is: ``torch``'s entry in float32; ``None`` for any other name."""
    base, dtype = split_variant(name)
    if dtype == DEFAULT_DTYPE or not supports(base, dtype):
        return None
    info = REGISTRY[base]
    tolerance, source = dtype_tolerance(base, dtype, info.tolerance)
    return EngineInfo(info.implementation, info.summary.replace("float64", dtype), tolerance,
                      source, info.second_tolerance, info.second_source, info.origin)


def engine_dtype(name: str) -> str:
    """The dtype the engine column ``name`` computes in (``float64`` but for a variant)."""
    return DEFAULT_DTYPE if _variant_info(name) is None else split_variant(name)[1]


def engine_names() -> tuple[str, ...]:
    """Every engine a run may use, in report order: the built-in ones, then each plugin engine
    that loads, by name (importing the plugins on the first call; a plugin that fails to load is
    left out, and :func:`plugin_problems` says why)."""
    return (*ENGINE_NAMES, *(name for name in _found() if _load(name)[0] is not None))


def default_engine_names() -> tuple[str, ...]:
    """The engines of a run that names none: those of :data:`DEFAULT_ENGINES`, then each
    plugin engine that loads (:func:`engine_names` less the optional frameworks)."""
    return tuple(n for n in engine_names() if n not in REGISTRY or REGISTRY[n].default)


def is_engine_name(name: str) -> bool:
    """Whether ``name`` is a built-in engine or a plugin's entry point (imports no plugin: for
    checking names in case files and settings)."""
    return name in REGISTRY or _variant_info(name) is not None or name in _found()


def engine_info(name: str) -> EngineInfo:
    """What the engine registered under ``name`` is; :class:`DiffcmpError` for an unknown name
    or a plugin that fails to load. Imports nothing for a built-in engine."""
    info = REGISTRY.get(name) or _variant_info(name)
    if info is not None:
        return info
    if name in _found():
        info = _load(name)[1]
        if info is None:
            raise DiffcmpError(_PROBLEMS[name])
        return info
    raise DiffcmpError(f"unknown engine '{name}' (known: {', '.join(engine_names())})")


def engine_class(name: str) -> type:
    """The :class:`~diffcmp.engines.base.Engine` subclass registered under ``name`` (its module
    imported on first use); a dtype's variant (``torch[float32]``) is its engine's class."""
    if _variant_info(name) is not None:
        name = split_variant(name)[0]
    if name not in REGISTRY:
        engine_info(name)  # unknown, or a plugin that fails to load: its own message
        return _load(name)[0]
    module_name, class_name = engine_info(name).implementation.split(":")
    module = importlib.import_module(f"diffcmp.engines.{module_name}")
    return getattr(module, class_name)


def get_engine(name: str, threads: int = 1, device: str = DEFAULT_DEVICE) -> Any:
    """A new :class:`~diffcmp.engines.base.Engine` instance by name: ``torch[float32]`` is the
    ``torch`` engine with ``dtype="float32"``; PyTorch's and JAX's engines get ``device``
    (:func:`engine_device`). A plugin engine is built as before, with ``threads`` alone."""
    options: dict[str, str] = {}
    dtype = engine_dtype(name)
    if dtype != DEFAULT_DTYPE:
        options["dtype"] = dtype
    if engine_device(name, device) != DEFAULT_DEVICE:
        options["device"] = device
    return engine_class(name)(threads=threads, **options)


# --- plugin engines (issue 20) -------------------------------------------------------------------

#: The entry-point group a package registers its engines in.
ENTRY_POINT_GROUP = "diffcmp.engines"


@dataclass(frozen=True)
class Plugin:
    """One entry point of :data:`ENTRY_POINT_GROUP`: what names the engine, and its package."""

    name: str
    #: ``module:Class``.
    value: str
    package: str
    version: str

    def describe(self) -> str:
        """``entry point NAME = VALUE of package P V``, for messages."""
        return f"entry point {self.name} = {self.value} of package {self.package} {self.version}"


_FOUND: dict[str, Plugin] | None = None
#: Loaded plugins: name -> (class, info); failed ones are in _PROBLEMS.
_LOADED: dict[str, tuple[type, EngineInfo]] = {}
_PROBLEMS: dict[str, str] = {}


def _found() -> dict[str, Plugin]:
    """Every plugin entry point on ``sys.path`` by engine name (read once; imports no plugin).
    An entry point named like a built-in engine is a problem, not a plugin."""
    global _FOUND
    if _FOUND is None:
        from importlib.metadata import entry_points  # on first use: ``import diffcmp`` stays light

        found: dict[str, Plugin] = {}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            dist = point.dist
            plugin = Plugin(point.name, point.value, dist.name if dist else "(unknown)",
                            dist.version if dist else "?")
            if point.name in REGISTRY:
                _PROBLEMS.setdefault(point.name, f"plugin engine '{point.name}' not loaded "
                                     f"({plugin.describe()}): a built-in engine has that name")
            else:
                found.setdefault(point.name, plugin)
        _FOUND = dict(sorted(found.items()))  # by name: the same order whatever sys.path's
    return _FOUND


def plugins() -> dict[str, Plugin]:
    """The plugin entry points found, by engine name (imports no plugin)."""
    return dict(_found())


def refresh_plugins() -> None:
    """Forget what was found and loaded, so that the next call reads the entry points again (a
    test that puts a plugin on ``sys.path``). Modules already imported stay imported."""
    global _FOUND
    _FOUND = None
    _LOADED.clear()
    _PROBLEMS.clear()


def plugin_problems() -> list[str]:
    """One line for each plugin that cannot be used (it fails to import, its class is not an
    ``Engine``, it says nothing of its tolerance...), naming its package and entry point; every
    plugin is loaded first."""
    for name in _found():
        _load(name)
    return [_PROBLEMS[name] for name in sorted(_PROBLEMS)]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _load(name: str) -> tuple[type | None, EngineInfo | None]:
    """The plugin's class and info, importing it on first use; ``(None, None)`` when it fails
    (its line in ``_PROBLEMS``)."""
    if name in _LOADED:
        return _LOADED[name]
    if name in _PROBLEMS:
        return None, None
    plugin = _found()[name]
    try:
        cls, info = _import(plugin)
    except Exception as exc:  # a plugin's import may raise anything: its line, not a crash
        reason = exc.args[0] if isinstance(exc, _RefusedError) else f"{type(exc).__name__}: {exc}"
        _PROBLEMS[name] = _one_line(f"plugin engine '{name}' not loaded ({plugin.describe()}): "
                                    f"{reason}")
        return None, None
    _LOADED[name] = cls, info
    return cls, info


class _RefusedError(Exception):
    """A plugin imported, but is not an engine diffcmp can use (the reason in ``args[0]``)."""


def _import(plugin: Plugin) -> tuple[type, EngineInfo]:
    module_name, _, attribute = plugin.value.partition(":")
    target: Any = importlib.import_module(module_name.strip())
    for part in filter(None, attribute.strip().split(".")):
        target = getattr(target, part)
    engine = importlib.import_module("diffcmp.engines.base").Engine
    if not (isinstance(target, type) and issubclass(target, engine)):
        raise _RefusedError(f"{plugin.value} is {target!r}, not a subclass of diffcmp.Engine")
    missing = sorted(getattr(target, "__abstractmethods__", ()))
    if missing:
        raise _RefusedError(f"{plugin.value} does not implement {', '.join(missing)}")
    summary = getattr(target, "summary", None)
    source = getattr(target, "tolerance_source", None)
    if not isinstance(summary, str) or not isinstance(source, str) or not summary or not source:
        raise _RefusedError(f"{plugin.value} needs the class attributes 'summary' and "
                       "'tolerance_source' (strings: what it computes, where its tolerance "
                       "comes from)")
    info = EngineInfo(plugin.value, summary, _tolerance(target, "tolerance", plugin, None),
                      source, origin=f"plugin {plugin.package} {plugin.version}")
    second = _tolerance(target, "second_tolerance", plugin, info.second_tolerance)
    second_source = getattr(target, "second_source", info.second_source)
    if not isinstance(second_source, str):
        raise _RefusedError(f"{plugin.value}.second_source must be a string")
    info = EngineInfo(plugin.value, summary, info.tolerance, source, second, second_source,
                      info.origin)
    return target, info


def _tolerance(cls: type, attribute: str, plugin: Plugin, default: float | None) -> float:
    value = getattr(cls, attribute, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not 0 <= value < math.inf:
        raise _RefusedError(f"{plugin.value}.{attribute} must be a non-negative number, not "
                       f"{value!r}")
    return float(value)


def plugin_paths() -> list[str]:
    """The ``sys.path`` folders the plugins loaded in this process came from (their package's
    metadata and their module; the deepest entry holding each, as an absolute path), for a
    worker process's ``PYTHONPATH``: a plugin found on a path added at run time (a test's) is
    found there too. The environment's own site-packages are left out: a worker has them."""
    import site
    from importlib.metadata import PackageNotFoundError, distribution

    standard = {Path(p).resolve() for p in [*site.getsitepackages(),
                                            site.getusersitepackages()]}
    entries = [Path(entry).resolve() for entry in sys.path if entry]
    paths: list[str] = []
    for name in _LOADED:
        plugin = _found()[name]
        top = sys.modules.get(plugin.value.partition(":")[0].split(".")[0].strip())
        candidates = [getattr(top, "__file__", None)]
        try:
            candidates.append(str(distribution(plugin.package).locate_file("")))
        except PackageNotFoundError:
            pass
        for candidate in filter(None, candidates):
            path = Path(candidate).resolve()
            holding = [entry for entry in entries if entry == path or entry in path.parents]
            if holding:
                deepest = max(holding, key=lambda entry: len(entry.parts))
                if deepest not in standard and str(deepest) not in paths:
                    paths.append(str(deepest))
    return paths
