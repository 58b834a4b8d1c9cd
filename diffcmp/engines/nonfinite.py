"""Where the user's own function first becomes non-finite: the operation and the component.

When a function handed to :func:`diffcmp.check` returns a loss of ``-inf``, ``inf`` or ``nan``,
:func:`first_nonfinite` runs it once more at that point and watches it, so that the message can
say where the value came from (``log(0) = -inf at w[0]``), not only that it is not finite:

* PyTorch: a :class:`torch.overrides.TorchFunctionMode` sees every torch function, tensor method
  and operator the function calls, and notes the first whose output holds a non-finite element
  while its inputs are finite: its name, its arguments at that element, and the element;
* JAX: the function's jaxpr (:func:`jax.make_jaxpr`), evaluated one primitive at a time (calls
  such as ``jit`` and ``custom_jvp`` looked into), with the same test on each output;
* NumPy (a hand-written gradient): ``np.errstate`` raising on division by zero, overflow and
  invalid operations, which names the ufunc.

The element is named as a component of a parameter (``w[0]``, ``W[1,2]``) when the operation's
input at that element is the parameter itself or was computed elementwise from it (same shape,
one parameter); otherwise by its index in the operation's output. The user's line is given where
it can be found. Best effort: ``""`` when nothing is found (a non-finite value in the data, a
Python ``math`` call, the function raising).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..symbolic.problem import component_names

#: How a few operators read when shown with their arguments (``1 / 0``).
SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "truediv": "/", "pow": "**",
           "matmul": "@"}
#: JAX primitives whose sub-jaxpr is evaluated equation by equation (the others are bound whole).
JAX_CALLS = ("jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
             "custom_vjp_call_jaxpr", "remat", "checkpoint")


def first_nonfinite(function: Callable[..., Any], framework: str,
                    params: Mapping[str, np.ndarray], data: Mapping[str, Any]) -> str:
    """Where ``function`` (called with keyword arguments ``params`` and ``data``, as float64
    values of ``framework``: ``"torch"``, ``"jax"`` or ``"numpy"``; data keep their dtype)
    first produces a non-finite value, as a clause: ``the first non-finite value is
    log(0) = -inf at w[0] (torch.log, model.py:12)``; ``""`` when it cannot be found."""
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    data = {k: _data(v) for k, v in data.items()}
    try:
        if framework == "torch":
            return _torch(function, params, data)
        if framework == "jax":
            return _jax(function, params, data)
        return _numpy(function, params, data)
    except Exception:  # a diagnosis only: the function's own failure is reported elsewhere
        return ""


def _data(value: Any) -> Any:
    """A data value with its own dtype (integer labels stay integer), floating as float64; a
    value that is no array as it is."""
    if isinstance(value, int | float | np.generic | list | tuple) and \
            not isinstance(value, bool):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return np.array(value, dtype=np.float64) if value.dtype.kind == "f" else value.copy()
    return value


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray)


def _number(value: Any) -> str:
    return f"{float(value):.6g}"


def _component(name: str, shape: tuple[int, ...], index: tuple[int, ...]) -> str:
    if not shape:
        return name
    return component_names(name, shape)[int(np.ravel_multi_index(index, shape))]


def _element(index: tuple[int, ...], shape: tuple[int, ...]) -> str:
    if not shape:
        return "in a scalar"
    return f"at element [{', '.join(map(str, index))}] of a {shape} array"


def _describe(op: str, qualified: str, args: list[Any], index: tuple[int, ...],
              shape: tuple[int, ...], value: float, where: str, line: str) -> str:
    """The clause: the operation with its arguments at the element, its value, where."""
    shown = [_at(a, index, shape) for a in args]
    shown = [s for s in shown if s is not None]
    if op in SYMBOLS and len(shown) == 2:
        call = f"{shown[0]} {SYMBOLS[op]} {shown[1]}"
    else:
        call = f"{op}({', '.join(shown)})"
    source = ", ".join(s for s in (qualified, line) if s)
    return (f"the first non-finite value is {call} = {_number(value)} {where}"
            + (f" ({source})" if source else ""))


def _at(arg: Any, index: tuple[int, ...], shape: tuple[int, ...]) -> str | None:
    """An argument's value at the output's element (broadcast), or ``None`` for one that is
    not a number or an array of numbers."""
    if isinstance(arg, bool) or not isinstance(arg, int | float | np.ndarray | np.generic):
        return None
    array = np.asarray(arg)
    if array.dtype.kind not in "fiu":
        return None
    if array.ndim == 0:
        return _number(array)
    try:
        return _number(np.broadcast_to(array, shape)[index])
    except ValueError:
        return f"an array of shape {array.shape}"


def _label(labels: list[tuple[str, tuple[int, ...]] | None], shapes: list[tuple[int, ...]],
           shape: tuple[int, ...]) -> tuple[str, tuple[int, ...]] | None:
    """The parameter an output element stems from: the one label among inputs of the output's
    shape (an elementwise path from one parameter), else ``None``."""
    found = {label for label, s in zip(labels, shapes, strict=True)
             if label is not None and (s == shape or not label[1])}
    return found.pop() if len(found) == 1 else None


def _where(label: tuple[str, tuple[int, ...]] | None, index: tuple[int, ...],
           shape: tuple[int, ...]) -> str:
    if label is None:
        return _element(index, shape)
    name, param_shape = label
    return "at " + (_component(name, shape, index) if param_shape == shape else name)


def _user_line(skip: tuple[str, ...]) -> str:
    """``file.py:LINE`` of the innermost frame that is neither diffcmp's nor a library's in
    ``skip`` (folders)."""
    frame = sys._getframe(1)
    here = str(Path(__file__).resolve().parent.parent)
    while frame is not None:
        name = str(Path(frame.f_code.co_filename).resolve())
        if not name.startswith((here, *skip)) and not name.startswith("<frozen"):
            return f"{Path(name).name}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, tuple | list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


# -- PyTorch --------------------------------------------------------------------------------------

def _torch(function: Callable[..., Any], params: dict[str, np.ndarray],
           data: dict[str, Any]) -> str:
    torch = importlib.import_module("torch")
    overrides = importlib.import_module("torch.overrides")
    weak = importlib.import_module("torch.utils.weak")
    folder = str(Path(torch.__file__).resolve().parent)
    tensors = {k: torch.from_numpy(v.copy()) for k, v in params.items()}
    fixed = {k: (v.item() if v.ndim == 0 else torch.from_numpy(v.copy())) if _is_array(v) else v
             for k, v in data.items()}
    labels = weak.WeakIdKeyDictionary()
    for name, tensor in tensors.items():
        labels[tensor] = (name, tuple(tensor.shape))

    def plain(arg: Any) -> Any:
        if isinstance(arg, torch.Tensor):
            return arg.detach().cpu().double().numpy() if arg.dtype.is_floating_point or \
                not arg.dtype.is_complex else None
        return arg

    class Watch(overrides.TorchFunctionMode):
        found = ""

        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            if self.found:
                return out
            inputs = [a for a in _leaves(list(args) + list((kwargs or {}).values()))
                      if isinstance(a, torch.Tensor)]
            for result in _leaves(out):
                if not isinstance(result, torch.Tensor) or not result.dtype.is_floating_point:
                    continue
                shape = tuple(result.shape)
                label = _label([labels.get(a) for a in inputs], [tuple(a.shape) for a in inputs],
                               shape)
                if label is not None:
                    labels[result] = label
                bad = ~torch.isfinite(result)
                if not bool(bad.any()) or not all(bool(torch.isfinite(a).all()) for a in inputs
                                                  if a.dtype.is_floating_point):
                    continue
                index = tuple(int(i) for i in torch.nonzero(bad)[0]) if shape else ()
                name = getattr(func, "__name__", type(func).__name__)
                op = name.strip("_")
                shown = [plain(a) for a in args]
                if name.startswith("__r") and op[1:] in SYMBOLS and len(shown) >= 2:
                    op, shown = op[1:], [shown[1], shown[0], *shown[2:]]
                qualified = "" if name.startswith("__") else f"torch.{name}"
                self.found = _describe(op, qualified, shown, index, shape,
                                       float(result[index]), _where(label, index, shape),
                                       _user_line((folder,)))
            return out

    watch = Watch()
    with torch.no_grad(), watch:
        function(**tensors, **fixed)
    return watch.found


# -- JAX ------------------------------------------------------------------------------------------

class _Found(Exception):  # noqa: N818 (a signal, not an error)
    """Stops the evaluation at the first non-finite value."""


def _jax(function: Callable[..., Any], params: dict[str, np.ndarray],
         data: dict[str, Any]) -> str:
    jax = importlib.import_module("jax")
    jnp = importlib.import_module("jax.numpy")
    names = list(params)
    with jax.enable_x64(True):
        fixed = {k: jnp.asarray(v) if _is_array(v) else v for k, v in data.items()}
        args = [jnp.asarray(v) for v in params.values()]

        def loss(*values: Any) -> Any:
            out = function(**dict(zip(names, values, strict=True)), **fixed)
            return out[0] if isinstance(out, tuple | list) else out

        closed = jax.make_jaxpr(loss)(*args)
        labels = [(name, tuple(params[name].shape)) for name in names]
        try:
            _run_jaxpr(closed.jaxpr, closed.consts, args, labels)
        except _Found as found:
            return str(found)
    return ""


def _run_jaxpr(jaxpr: Any, consts: Any, args: list[Any],
               labels: list[tuple[str, tuple[int, ...]] | None]) -> list[Any]:
    """Evaluate ``jaxpr`` one equation at a time; raise :class:`_Found` at the first output
    with a non-finite element whose inputs are finite."""
    env: dict[Any, Any] = {}
    tags: dict[Any, tuple[str, tuple[int, ...]] | None] = {}
    for var, value in zip(jaxpr.constvars, consts, strict=True):
        env[var] = value
    for var, value, label in zip(jaxpr.invars, args, labels, strict=True):
        env[var], tags[var] = value, label

    def read(var: Any) -> Any:
        return var.val if hasattr(var, "val") else env[var]

    for eqn in jaxpr.eqns:
        inputs = [read(v) for v in eqn.invars]
        in_labels = [None if hasattr(v, "val") else tags.get(v) for v in eqn.invars]
        outputs = _eqn(eqn, inputs, in_labels)
        arrays = [np.asarray(v) for v in inputs]
        for var, value in zip(eqn.outvars, outputs, strict=True):
            result = np.asarray(value)
            shape = tuple(result.shape)
            label = _label(in_labels, [a.shape for a in arrays], shape)
            env[var], tags[var] = value, label
            if result.dtype.kind != "f" or np.all(np.isfinite(result)):
                continue
            if not all(np.all(np.isfinite(a)) for a in arrays if a.dtype.kind == "f"):
                continue
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(result))[0])
            raise _Found(_describe(eqn.primitive.name, _jax_name(eqn), list(arrays), index,
                                   shape, float(result[index]), _where(label, index, shape),
                                   _jax_line(eqn)))
    return [read(v) for v in jaxpr.outvars]


def _eqn(eqn: Any, inputs: list[Any], labels: list[Any]) -> list[Any]:
    """One equation's outputs: a call's sub-jaxpr evaluated equation by equation, anything else
    bound as a whole."""
    if eqn.primitive.name in JAX_CALLS:
        sub = next((eqn.params[k] for k in ("jaxpr", "call_jaxpr", "fun_jaxpr")
                    if k in eqn.params), None)
        inner = getattr(sub, "jaxpr", sub)
        if inner is not None and hasattr(inner, "eqns") and len(inner.invars) == len(inputs):
            return _run_jaxpr(inner, getattr(sub, "consts", []), inputs, labels)
    out = eqn.primitive.bind(*inputs, **eqn.params)
    return list(out) if eqn.primitive.multiple_results else [out]


def _jax_name(eqn: Any) -> str:
    return f"jax.lax.{eqn.primitive.name}"


def _jax_line(eqn: Any) -> str:
    try:
        source = importlib.import_module("jax._src.source_info_util")
        frame = source.user_frame(eqn.source_info.traceback)
        return f"{Path(frame.file_name).name}:{frame.start_line}" if frame else ""
    except Exception:  # an internal API: the line is a nicety
        return ""


# -- NumPy ----------------------------------------------------------------------------------------

def _numpy(function: Callable[..., Any], params: dict[str, np.ndarray],
           data: dict[str, Any]) -> str:
    plain = {k: v[()] if _is_array(v) and v.ndim == 0 else v
             for k, v in {**params, **data}.items()}
    with np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
        try:
            function(**plain)
        except FloatingPointError as exc:
            match = re.match(r"(.*) encountered in (\w+)", str(exc))
            what, ufunc = (match.group(1), match.group(2)) if match else (str(exc), "")
            line = ""
            folder = str(Path(np.__file__).resolve().parent)
            tb = exc.__traceback__
            while tb is not None:
                name = str(Path(tb.tb_frame.f_code.co_filename).resolve())
                if not name.startswith(folder) and name != str(Path(__file__).resolve()):
                    line = f"{Path(name).name}:{tb.tb_lineno}"
                tb = tb.tb_next
            where = f" ({line})" if line else ""
            op = f"numpy's {ufunc}" if ufunc else "a NumPy operation"
            return f"the first floating-point error is {what} in {op}{where}"
    return ""


__all__ = ["first_nonfinite"]
