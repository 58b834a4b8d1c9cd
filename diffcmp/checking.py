"""Check your own gradient: :func:`check` grades a function you wrote (PyTorch, JAX, or a
hand-written gradient) and :func:`assert_gradients_agree` turns the verdict into an assertion
for a pytest test.

With ``loss=`` (the same function as a language string or SymPy expression), your gradient is one
more engine row, graded against the certified reference beside the built-in engines. Without it
there is no symbolic reference: your gradient is graded against the best finite-difference
estimate of your function itself (:mod:`diffcmp.run.selfcheck`), and the result says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from .api import compare
from .cases import Case
from .cases.values import MAX_ARRAY_ELEMENTS, as_numpy
from .engines.nonfinite import first_nonfinite
from .engines.user_code import HAND_WRITTEN, MODES, Layout, UserCodeEngine, detect_framework
from .errors import CaseError, DiffcmpError
from .precision import DEFAULT_DTYPE, DTYPES, dtype_tolerance
from .registry import engine_names, is_engine_name
from .report.short import failure_message
from .result import Result
from .run.evaluate import evaluate
from .run.options import Options
from .run.selfcheck import self_check
from .run.selfsecond import grade_second_blackbox

#: The tolerance of your gradient's row unless you give one: float64 reverse mode and a
#: hand-written gradient are exact up to rounding, like the built-in autograd engines.
DEFAULT_TOLERANCE = 1e-10
#: The row's name when the function has no usable name (a lambda).
DEFAULT_NAME = "user"

__all__ = ["assert_gradients_agree", "check"]


def check(fn: Callable[..., Any], params: Mapping[str, Any], data: Mapping[str, Any] | None = None,
          *, loss: str | sp.Expr | None = None, engines: Sequence[str] | None = None,
          tolerance: float | Mapping[str, float] | None = None, name: str | None = None,
          timing: bool = False, framework: str | None = None,
          allow_undefined: bool = False, fast: bool | None = None, order: int = 1,
          hvp: Callable[..., Any] | None = None, modes: Sequence[str] = ("rev",),
          dtype: str = "float64") -> Result:
    """Grade the gradient of your own function ``fn`` at ``params``.

    ``fn`` is called with keyword arguments named like ``params`` and ``data`` (NumPy arrays,
    PyTorch tensors, JAX arrays or numbers) and returns the loss, or ``(loss, grads)`` with
    ``grads`` a dict of arrays by param name (a hand-written gradient, used as is). The
    framework is ``framework`` or the one the values belong to: PyTorch tensors mean float64
    tensors and ``torch.autograd.grad``, JAX arrays float64 arrays (local x64) and
    ``jax.value_and_grad``; with NumPy values ``fn`` must return ``(loss, grads)``.

    ``fn`` receives only the arguments its signature names (all of them with ``**kwargs``);
    params are converted to float64, data keep their dtype (integer labels stay integer;
    floating data become float64). With a single param, ``grads`` may be its gradient alone.

    With ``loss``, your gradient is the row ``name`` (default ``fn.__name__``) graded against the
    certified symbolic reference, beside ``engines`` (default: none, the reference and your row
    only). Without it, it is graded against finite differences of ``fn`` itself (complex step or
    Richardson extrapolation, with an error estimate that sets the grading floor; kinks found
    from one-sided differences and graded against both sides: see
    :mod:`diffcmp.run.selfcheck`); above :data:`~diffcmp.run.blackbox.FAST_SIZE` parameter
    elements by a few random directional derivatives first, localising the wrong components
    only when one disagrees (``fast=False`` forces the per-component check, ``fast=True`` the
    fast one). ``tolerance`` is your row's (a number; default 1e-10) or a dict by engine name.
    Raises :class:`~diffcmp.errors.DiffcmpError` for bad arguments; your function raising is an
    ``error`` row, and a NaN loss or gradient a ``nan`` row naming the first non-finite output.

    **Second order.** ``order=2`` grades your function's framework Hessian
    (``torch.func.hessian`` / ``jax.hessian`` of the loss it returns) and Hessian-vector product
    (``jvp`` of the gradient) as rows ``derivative="hessian"`` and ``"hvp"`` of your row; the
    product is taken along :func:`diffcmp.run.second.tangent`, a fixed seeded vector.
    ``hvp=your_hvp`` (which implies ``order=2``) grades your own product instead:
    ``your_hvp(v, **args)`` with ``v`` shaped like ``params`` (a dict by param name, or a bare
    array for a single param; in your framework's types) and the arguments ``fn`` gets, returning
    the same structure. A function that returns ``(loss, grads)`` has no framework Hessian: its
    ``hessian`` row is ``unsupported`` (and ``hvp`` too, unless ``hvp=`` is given), saying why.
    With ``loss``, both are graded against the certified reference's Hessian (and its product);
    without, against Richardson-extrapolated central differences of your own gradient (along
    ``v``; column by column for the Hessian), with their error estimate setting the floor
    (:mod:`diffcmp.run.selfsecond`).

    **Forward mode.** ``modes=("fwd", "rev")`` (default ``("rev",)``; ``"rev"`` is always
    checked) adds the row ``f"{name}[fwd]"``: the gradient by forward mode
    (``torch.autograd.forward_ad``, one pass per param element, or ``jax.jacfwd``), graded like
    the reverse row, so that a wrong ``jvp`` of a ``torch.autograd.Function`` or a wrong
    ``jax.custom_jvp`` rule is caught (JAX transposes a ``custom_jvp`` rule for reverse mode: a
    wrong rule is wrong in both rows). Forward mode that cannot run (an ``autograd.Function``
    without ``jvp``, a ``jax.custom_vjp``, a hand-written gradient) is ``unsupported``. Its
    tolerance is the reverse row's unless ``tolerance`` names it.

    **Lower precision.** ``dtype="float32"`` (or ``"bfloat16"``) keeps a function that computes
    in float32 in float32 (issue 21): its params and floating data are passed as float32
    tensors or arrays instead of being upcast (PyTorch's and JAX's default float32 arrays are
    upcast to float64 otherwise), its gradient is the float32 one, and the row is graded as the
    built-in engines in that dtype are (``torch[float32]``): a tolerance of
    :data:`~diffcmp.precision.ROUNDING_ROOM` units of the dtype's roundoff unless ``tolerance``
    says otherwise, floors that count the rounding of its inputs, ``ok`` with a message saying
    when the error is precision-limited, ``mismatch`` when it is off by more. Second order is
    graded in float64 only.

    A point where the loss is not finite (``-inf``, ``inf``, ``nan``) or the reference is
    ``undefined`` grades nothing, so the result is not ``ok`` unless ``allow_undefined``; the
    message says which value the loss is and, where it can be found, the operation and the
    component where it first appears (``log(0) = -inf at w[0]``:
    :mod:`diffcmp.engines.nonfinite`).
    """
    start = time.perf_counter()
    if not callable(fn):
        raise DiffcmpError(f"check() needs a function as its first argument, not "
                           f"{type(fn).__name__} (for a loss string use compare())")
    data = dict(data or {})
    if not isinstance(params, Mapping) or not params:
        raise DiffcmpError("params must be a non-empty dict of names and values")
    row = _row_name(fn, name)
    modes = _modes(modes)
    if order not in (1, 2) or isinstance(order, bool):
        raise DiffcmpError(f"order must be 1 or 2, not {order!r}")
    if hvp is not None and not callable(hvp):
        raise DiffcmpError(f"hvp must be a function hvp(v, **args), not {type(hvp).__name__}")
    order = 2 if hvp is not None else order
    rows = {"rev": row, "fwd": f"{row}[fwd]"}
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise DiffcmpError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    tolerances = _tolerances(tolerance, row, [rows[m] for m in modes], dtype)
    found = detect_framework([*params.values(), *data.values()])
    if framework is not None and framework not in ("torch", "jax", "numpy"):
        raise DiffcmpError(f"unknown framework {framework!r} (known: torch, jax, numpy)")
    users = {rows[m]: UserCodeEngine(fn, framework or found or "numpy", mode=m, hvp=hvp,
                                     dtype=dtype) for m in modes}
    engine = users[row]
    missing = engine.missing(params)
    if missing:
        raise DiffcmpError(f"the function does not take the param '{missing[0]}' (its signature "
                           "names the arguments it receives)")
    if loss is not None:
        result = _with_loss(fn, params, data, loss, users, engines, tolerances, timing,
                            allow_undefined, order)
    else:
        if engines:
            raise DiffcmpError("engines= needs loss=: without a symbolic loss the built-in "
                               "engines have nothing to differentiate")
        result = _without_loss(params, data, users, tolerances, timing, allow_undefined, fast,
                               order)
    meta = result.meta["check"] = {"row": row, "framework": engine.framework,
                                   "gradient": engine.gradient}
    if order == 2:  # what goes beyond the gradient, named only when asked for
        meta["order"] = 2
    if dtype != DEFAULT_DTYPE:
        meta["dtype"] = dtype
    if hvp is not None:
        meta["hvp"] = getattr(hvp, "__qualname__", type(hvp).__name__)
    if "fwd" in modes:
        meta["forward"] = {"row": rows["fwd"], "gradient": users[rows["fwd"]].gradient}
    result.meta["wall_s"] = time.perf_counter() - start
    return result


def assert_gradients_agree(fn_or_loss: Callable[..., Any] | str | sp.Expr, *args: Any,
                           **kwargs: Any) -> Result:
    """:func:`check` (for a function) or :func:`~diffcmp.compare` (for a loss string or SymPy
    expression, timing off unless asked) and raise :class:`AssertionError` unless every engine
    agrees; the message fits on a few lines (engine, status, worst component, both values,
    error and tolerance). An undefined point fails too, unless ``allow_undefined=True`` (a
    keyword of both) or the case declares it. Returns the :class:`Result` when they agree."""
    __tracebackhide__ = True  # pytest shows the caller's line, not ours
    if isinstance(fn_or_loss, str | sp.Basic):
        kwargs.setdefault("timing", False)
        result = compare(fn_or_loss, *args, **kwargs)
    else:
        result = check(fn_or_loss, *args, **kwargs)
    if not result.ok:
        raise AssertionError(failure_message(result))
    return result


def _row_name(fn: Callable[..., Any], name: str | None) -> str:
    if name is None:
        name = getattr(fn, "__name__", "")
        if not isinstance(name, str) or not name.isidentifier():
            name = DEFAULT_NAME
    if not isinstance(name, str) or not name.strip():
        raise DiffcmpError("name must be a non-empty string")
    if is_engine_name(name):
        raise DiffcmpError(f"'{name}' is the name of an engine: pass name='...' for your "
                           "function's row")
    return name


def _modes(modes: Sequence[str]) -> tuple[str, ...]:
    """The gradient modes checked: ``"rev"`` (always) and ``"fwd"``."""
    if isinstance(modes, str) or not isinstance(modes, Sequence) or \
            not set(modes) <= set(MODES) or "rev" not in modes:
        raise DiffcmpError(f"modes must be ('rev',) or ('fwd', 'rev'), not {modes!r}: 'rev' is "
                           "your function's gradient as it gives it, 'fwd' adds forward mode")
    return tuple(m for m in MODES if m in modes)


def _tolerances(tolerance: float | Mapping[str, float] | None, row: str,
                rows: list[str], dtype: str = DEFAULT_DTYPE) -> dict[str, float]:
    """Tolerances by row: ``tolerance`` for every row of yours (a number), or by name; the
    forward-mode row takes the reverse one's unless named. The default is
    :data:`DEFAULT_TOLERANCE` in float64, the dtype's rounding tolerance in another
    (:func:`~diffcmp.precision.dtype_tolerance`)."""
    default = DEFAULT_TOLERANCE if dtype == DEFAULT_DTYPE else \
        dtype_tolerance("user", dtype, DEFAULT_TOLERANCE)[0]
    if isinstance(tolerance, Mapping):
        unknown = sorted(name for name in set(tolerance) - set(rows)
                         if not is_engine_name(name))
        if unknown:
            raise DiffcmpError(f"tolerance names '{unknown[0]}', which is neither your function's "
                               f"row '{row}' nor an engine ({', '.join(engine_names())})")
        values = dict(tolerance)
        values.setdefault(row, default)
    else:
        values = {row: default if tolerance is None else tolerance}
    for other in rows:
        values.setdefault(other, values[row])
    Options(tolerance=values)  # validates the numbers
    return {k: float(v) for k, v in values.items()}


def _with_loss(fn: Callable[..., Any], params: Mapping[str, Any], data: dict[str, Any],
               loss: str | sp.Expr, users: dict[str, UserCodeEngine],
               engines: Sequence[str] | None, tolerances: dict[str, float],
               timing: bool, allow_undefined: bool, order: int) -> Result:
    row, engine = next(iter(users.items()))
    layout = _layout(params, data, row)  # checks the values; the engine gets data as given
    case = Case(name=row, loss=loss, params=params, data=data)
    options = Options(engines=tuple(engines) if engines else ("reference",), timing=timing,
                      tolerance=tolerances, allow_undefined=allow_undefined, order=order)
    for user in users.values():
        user.data = layout.data
    case_result = evaluate(case, options, extra_engines=users)
    if case_result.load_error is not None:
        raise CaseError(case_result.load_error)
    for entry in case_result.agreement:  # your loss not finite: say where it first appears
        if entry["engine"] == row and entry["derivative"] == "gradient" and \
                not np.isfinite(entry["loss"]):
            where = first_nonfinite(engine.call, engine.framework, layout.split(layout.point),
                                    layout.data)
            entry["message"] += (f"; your function's loss is {entry['loss']}"
                                 + (f": {where}" if where else ""))
    result = Result.from_cases([case_result], options, 0.0)
    for name, user in users.items():
        _describe(result, name, user, tolerances[name], "the certified symbolic reference")
    return result


def _layout(params: Mapping[str, Any], data: Mapping[str, Any], row: str) -> Layout:
    """Where ``fn`` is called: its params (float64 arrays of any shape: their values are the
    point) and data (their own dtypes)."""
    where = f"check({row})"
    values = {_name(k, "params", where): _param(v, f"params.{k}", where)
              for k, v in params.items()}
    fixed = {_name(k, "data", where): _data(v, f"data.{k}", where) for k, v in data.items()}
    both = sorted(set(values) & set(fixed))
    if both:
        raise CaseError(f"'{both[0]}' is in both params and data", where)
    return Layout.of(values, fixed)


def _param(value: Any, key: str, where: str) -> np.ndarray:
    """A param as a finite float64 array of any number of dimensions."""
    value = as_numpy(value, key, where)
    if isinstance(value, bool | str | bytes) or value is None:
        raise CaseError(f"{key} must be a number or an array of numbers", where)
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CaseError(f"{key} is not a number: {exc}", where) from None
    if array.size == 0:
        raise CaseError(f"{key} is empty", where)
    if array.size > MAX_ARRAY_ELEMENTS:
        raise CaseError(f"{key} has {array.size:,} elements; the limit is "
                        f"{MAX_ARRAY_ELEMENTS:,}", where)
    if not np.all(np.isfinite(array)):
        index = np.unravel_index(int(np.argmin(np.isfinite(array))), array.shape)
        item = key + "".join(f"[{i}]" for i in index)
        raise CaseError(f"{item} is {array[index]}: values must be finite numbers", where)
    return array


def _data(value: Any, key: str, where: str) -> Any:
    """A data value with its own dtype: arrays (of another library too) and lists as NumPy
    arrays, numbers as NumPy scalars, anything else (a string, a dict) as it is."""
    value = as_numpy(value, key, where)
    if isinstance(value, list | tuple | int | float | np.generic) and \
            not isinstance(value, bool):
        try:
            value = np.asarray(value)
        except (TypeError, ValueError):
            return value
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        return value.tolist() if value.ndim else value.item()
    return value


def _without_loss(params: Mapping[str, Any], data: dict[str, Any],
                  users: dict[str, UserCodeEngine], tolerances: dict[str, float], timing: bool,
                  allow_undefined: bool, fast: bool | None, order: int) -> Result:
    row, engine = next(iter(users.items()))
    layout = _layout(params, data, row)
    case_result, reference = self_check(row, row, engine, layout, tolerances[row], timing,
                                        allow_undefined=allow_undefined, fast=fast)
    for other, user in list(users.items())[1:]:  # forward mode: graded like the reverse row
        more, _ = self_check(row, other, user, layout, tolerances[other], timing,
                             allow_undefined=allow_undefined, fast=fast)
        for table in ("agreement", "gradients", "timing"):
            getattr(case_result, table).extend(
                r for r in getattr(more, table) if r["engine"] == other)
    if order == 2:
        reference["second"] = grade_second_blackbox(case_result, row, engine, layout,
                                                    tolerances[row], hessian=True)
    options = Options(engines=("reference",), timing=timing, allow_undefined=allow_undefined,
                      order=order)
    result = Result.from_cases([case_result], options, 0.0)
    result.meta["engines"]["reference"] = {
        "tolerance": 0.0, "source": "the truth the other rows are graded against, to within "
        "its own error estimate", "summary": reference["note"]}
    result.meta["fd_reference"] = reference
    for name, user in users.items():
        _describe(result, name, user, reference["tolerance_used"] if name == row else
                  tolerances[name], "finite differences of your function (see the reference's "
                  "note)")
    return result


def _name(name: Any, key: str, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise CaseError(f"{key} name {name!r} is not a valid identifier (the function is called "
                        "with keyword arguments)", where)
    return name


def _describe(result: Result, row: str, engine: UserCodeEngine, tolerance: float,
              graded: str) -> None:
    """Add your function's row to the result's metadata (report, tolerance table, plots)."""
    source = ("hand-written gradients are exact up to rounding, like reverse mode"
              if engine.gradient == HAND_WRITTEN else
              f"{'forward' if engine.mode == 'fwd' else 'reverse'} mode is exact up to float64 "
              "rounding")
    result.meta["engines"][row] = {"tolerance": tolerance, "source": f"{source}; graded against "
                                   f"{graded}", "summary": engine.describe()}
    result.meta["options"]["engines"] = [*result.meta["options"]["engines"], row]

