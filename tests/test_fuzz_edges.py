"""Fuzzing at the edges (issue 9): random losses at ordinary points, on or near switches, at
tiny and at large points, each graded against an independent high-precision evaluation of the loss
as written (the language compiled over mpmath at 120 digits, differentiated by central differences
with a 1e-40 step), which shares nothing with the reference's SymPy derivation.

The property: nothing raises; no engine is ``ok`` while more than its tolerance away from the
independent values (by ADBench's rule, which diffcmp's floor is never laxer than, and by
diffcmp's own); the reference is never finite where the written loss is not, and never
``undefined`` where the written loss and its gradient are finite.
"""

from __future__ import annotations

import ast

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import DATA, FUZZ, SHAPES, losses

import diffcmp
from diffcmp import lang
from diffcmp.grading.grade import rho
from diffcmp.ops import mpmath as mpmath_ops
from diffcmp.registry import engine_info

ENGINES = ("reference", "sympy", "matcalc", "torch", "jax")
DIGITS = 120


@st.composite
def edge_losses(draw: st.DrawFn) -> tuple[str, dict[str, np.ndarray], str]:
    text, env = draw(losses())
    kind = draw(st.sampled_from(["ordinary", "tiny", "large", "switch"]))
    env = {k: v.copy() for k, v in env.items()}
    if kind == "tiny":
        scale = 10.0 ** -draw(st.integers(8, 30))
        env = {k: v * scale if k in SHAPES else v for k, v in env.items()}
    elif kind == "large":
        scale = 10.0 ** draw(st.integers(1, 3))
        env = {k: v * scale if k in SHAPES else v for k, v in env.items()}
    elif kind == "switch":  # a parameter at 0, or tied with a datum or another parameter
        name = draw(st.sampled_from(sorted(SHAPES)))
        flat = env[name].reshape(-1)
        i = draw(st.integers(0, flat.size - 1))
        flat[i] = draw(st.sampled_from([0.0, float(env["d"]), float(env["a"]), 1 / 3]))
    return text, env, kind


def _independent(text: str, env: dict[str, np.ndarray]) -> tuple[object, list[object]]:
    """The written loss and its central-difference gradient at ``DIGITS`` digits."""
    expression = lang.parse(text)
    shapes = {k: v.shape for k, v in env.items()}
    with mpmath.workdps(DIGITS):
        function = lang.compile_expression(expression, mpmath_ops.OPS, shapes)
        base = {k: _mp(v) for k, v in env.items()}
        loss = function(base)
        step = mpmath.mpf(10) ** -40
    # the quotients resolve the gradient only if the loss's digits reach below the step
    extra = int(mpmath.log10(abs(loss))) + 1 if _finite(loss) and abs(loss) > 1 else 0
    with mpmath.workdps(DIGITS + extra):
        grad = []
        for name in SHAPES:
            for index in np.ndindex(*env[name].shape):
                def at(t: object, name: str = name, index: tuple[int, ...] = index) -> object:
                    moved = dict(base)
                    if env[name].shape == ():
                        moved[name] = base[name] + t
                    else:
                        array = base[name].copy()
                        array[index] = array[index] + t
                        moved[name] = array
                    return function(moved)
                grad.append((at(step) - at(-step)) / (2 * step))
        return loss, grad


def _reliable(text: str, env: dict[str, np.ndarray], loss: object) -> bool:
    """Whether the oracle's loss at ``DIGITS`` digits is its loss at twice as many, to 30
    digits: an oracle without that check grades the reference against its own rounding."""
    expression = lang.parse(text)
    with mpmath.workdps(2 * DIGITS):
        function = lang.compile_expression(expression, mpmath_ops.OPS,
                                           {k: v.shape for k, v in env.items()})
        try:
            again = function({k: _mp(v) for k, v in env.items()})
        except (ZeroDivisionError, ValueError, TypeError):
            return True  # undefined at either precision: the checks below compare statuses
        if not (_finite(loss) and _finite(again)):
            return True
        return bool(abs(again - loss) <= abs(again) * mpmath.mpf(10) ** -30)


def _negative_power_base(text: str, env: dict[str, np.ndarray]) -> bool:
    """Whether a power in ``text`` whose exponent holds a parameter has a negative base (some
    element of it, at 30 digits) at ``env``."""
    shapes = {k: v.shape for k, v in env.items()}
    for node in ast.walk(lang.parse(text).tree):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow)):
            continue
        if not {n.id for n in ast.walk(node.right) if isinstance(n, ast.Name)} & set(SHAPES):
            continue
        with mpmath.workdps(30):
            base = lang.compile_expression(lang.parse(ast.unparse(node.left)), mpmath_ops.OPS,
                                           shapes)({k: _mp(v) for k, v in env.items()})
        if any(isinstance(b, mpmath.mpf) and b < 0 for b in np.ravel(np.asarray(base))):
            return True
    return False


def _calls(text: str) -> set[str]:
    """The functions ``text`` calls."""
    return {node.func.id for node in ast.walk(lang.parse(text).tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


def _mp(value: np.ndarray) -> object:
    if value.shape == ():
        return mpmath.mpf(float(value))
    return np.vectorize(lambda v: mpmath.mpf(float(v)), otypes=[object])(value)


def _finite(value: object) -> bool:
    return isinstance(value, mpmath.mpf) and bool(mpmath.isfinite(value))


def check_edge(text: str, env: dict[str, np.ndarray], kind: str) -> None:
    params = {k: v for k, v in env.items() if k in SHAPES}
    data = {k: v for k, v in env.items() if k in DATA}
    try:
        result = diffcmp.compare(text, params, data, engines=ENGINES, timing=False)
    except diffcmp.CaseError as exc:  # a loss that cancels its parameters, or a refused bomb
        assert "no parameter" in str(exc) or "limit" in str(exc), (text, exc)
        return
    rows = result.agreement.set_index("engine")
    if {"floor", "ceil", "mod"} & _calls(text) or " % " in text:
        return  # the oracle cannot judge steps at the edges: its quotients (step 1e-40) straddle
        # a jump of ceil(-d / a) at a = -1e-22, and ceil(-1e-23) = 0 divides without a sign;
        # steps and their jumps are graded in tests/test_numpy_names.py
    loss, grad = _independent(text, env)
    if not _reliable(text, env, loss):
        return  # the oracle itself is off here (sin of cosh(1163) = 1e505 needs 505+ digits)
    context = (text, kind, rows[["status", "message"]].to_dict("index"))
    if rows.loc["reference", "status"] in ("ok", "kink"):
        assert _finite(loss), ("the reference is finite where the written loss is not", context)
    if not (_finite(loss) and all(_finite(g) for g in grad)):
        return  # the written loss or its gradient is not finite: nothing to compare
    if rows.loc["reference", "status"] == "undefined" and _negative_power_base(text, env):
        return  # d(b**e)/de = b**e log(b) is undefined for b < 0, even where e is constant in
        # disguise (v/v), which central differences cannot tell: undefined, by design
    assert rows.loc["reference", "status"] != "undefined", (
        "undefined where the written loss and its gradient are finite", float(loss), context)
    grads = result.gradients
    for engine in ENGINES:
        if rows.loc[engine, "status"] != "ok":
            continue
        tolerance = 1e-12 if engine == "reference" else engine_info(engine).tolerance
        values = grads[(grads["engine"] == engine) & (grads["point"] == 0)]["value"]
        assert rho(float(rows.loc[engine, "loss"]), float(loss)) <= max(tolerance, 1e-12), \
            ("loss off", engine, float(loss), context)
        errors = rho(values.to_numpy(), np.array([float(g) for g in grad]))
        assert np.all(errors <= max(tolerance, 1e-12)), \
            ("gradient off", engine, [float(g) for g in grad], values.tolist(), context)


#: Losses at the edges, each graded twice (by the engines and independently at 120 digits):
#: about 0.35 s each.
EDGES_FAST, EDGES_SLOW = 10, 400


@settings(FUZZ, max_examples=EDGES_FAST)
@given(edge_losses())
def test_no_wrong_verdict_at_the_edges(drawn: tuple[str, dict[str, np.ndarray], str]) -> None:
    check_edge(*drawn)


@pytest.mark.slow
@settings(FUZZ, max_examples=EDGES_SLOW)
@given(edge_losses())
def test_no_wrong_verdict_at_the_edges_long(
        drawn: tuple[str, dict[str, np.ndarray], str]) -> None:
    check_edge(*drawn)
