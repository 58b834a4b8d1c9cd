"""The optional frameworks built in (issue 20): ``autograd`` (HIPS autograd) and ``tensorflow``
(GradientTape in a tf.function), each an op table over the spec and an OpTableEngine.

Each table is checked against the spec (values at every row's example, against mpmath) and
differentiated at those examples against central differences of NumPy's op; each engine computes
the worked example and built-in cases to hand-derived values, first and second order; an engine
whose framework is missing is ``unsupported`` naming its extra. Importing TensorFlow takes ~8 s:
its tests are slow tests, sharing one import.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import diffcmp
from diffcmp import cli, registry
from diffcmp.cases import load_cases
from diffcmp.engines.optable_check import check_op_table
from diffcmp.engines.optional import OptionalOps
from diffcmp.errors import UnsupportedError
from diffcmp.ops import numpy as numpy_ops
from diffcmp.ops.spec import COMPARE, DERIVATIVE, SPEC
from diffcmp.symbolic.problem import lower

CASES = Path(__file__).resolve().parent.parent / "cases"
FRAMEWORKS = ("autograd", "tensorflow")
#: The ops neither table holds: the spec's derivative ops, which no loss contains.
LEFT_OUT = {name for name, op in SPEC.items() if op.kind == DERIVATIVE}


@pytest.fixture(scope="module")
def tf() -> Any:
    """TensorFlow, imported once for this module's slow tests, as the engine imports it."""
    from diffcmp.engines.tensorflow_tape import _tensorflow

    return _tensorflow(1)


def _table(framework: str) -> tuple[Mapping[str, Callable[..., Any]], Callable[[np.ndarray], Any],
                                    Callable[[Any], np.ndarray]]:
    """The framework's op table, its array from NumPy values, and back."""
    if framework == "autograd":
        from diffcmp.ops import autograd as autograd_ops

        return autograd_ops.OPS, np.asarray, np.asarray
    import tensorflow

    from diffcmp.ops import tensorflow as tensorflow_ops

    return (tensorflow_ops.OPS, lambda v: tensorflow.constant(v, dtype=tensorflow.as_dtype(
        v.dtype)), lambda t: t.numpy())


def _gradient(framework: str, f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    """The gradient of the scalar ``f`` at ``x`` by the framework's reverse mode."""
    if framework == "autograd":
        import autograd

        with warnings.catch_warnings():  # floor, sign...: zero, as it says
            warnings.filterwarnings("ignore", "Output seems independent of input")
            return np.asarray(autograd.grad(f)(x))
    import tensorflow

    t = tensorflow.constant(x)
    with tensorflow.GradientTape() as tape:
        tape.watch(t)
        y = f(t)
    return tape.gradient(y, t, unconnected_gradients="zero").numpy()  # floor: zero


def _total(framework: str) -> Callable[[Any], Any]:
    if framework == "autograd":
        import autograd.numpy as anp

        return anp.sum
    import tensorflow

    return tensorflow.reduce_sum


def _example(name: str) -> list[Any]:
    """The spec row's example, floats, booleans and lists as NumPy arrays (a list of parts for
    ``stack``, ``concatenate`` and ``einsum``), raw arguments as they are."""
    def convert(value: Any) -> Any:
        if isinstance(value, bool | float | list):
            array = np.array(value)
            return array if array.dtype == bool else array.astype(np.float64)
        return value
    example = SPEC[name].example
    if name in ("stack", "concatenate", "einsum"):
        return [[convert(v) for v in example[0]], *example[1:]]
    return [convert(a) for a in example]


def _derivative_problems(framework: str) -> list[str]:
    """Every op of the table differentiated at its example, each float argument (or the first
    part of a list of them) in turn: the gradient of the sum of its result against central
    differences (step 1e-6) of NumPy's op."""
    ops, array, _ = _table(framework)
    total = _total(framework)
    problems = []
    for name, function in ops.items():
        if SPEC[name].kind == COMPARE:
            continue
        args = _example(name)
        for i, arg in enumerate(args):
            part = isinstance(arg, list)
            x = arg[0] if part else arg
            if not (isinstance(x, np.ndarray) and x.dtype == np.float64):
                continue

            def at(x: Any, convert: Callable[[Any], Any], i: int = i, args: list[Any] = args,
                   part: bool = part) -> list[Any]:
                """The arguments with ``x`` in slot ``i`` (the first part of a list there)."""
                values = [[convert(v) for v in a] if isinstance(a, list) else convert(a)
                          if isinstance(a, np.ndarray) else a for a in args]
                values[i] = [x, *values[i][1:]] if part else x
                return values

            def f(x: Any, at: Any = at, function: Any = function) -> Any:
                return total(function(*at(x, array)))

            try:
                got = _gradient(framework, f, x)
            except Exception as exc:  # the framework cannot differentiate it: the problem
                problems.append(f"{name}[{i}]: {type(exc).__name__}: {exc}")
                continue
            expected = np.zeros(x.size)
            for k in range(x.size):
                step = np.zeros(x.size)
                step[k] = 1e-6
                sides = [np.sum(numpy_ops.OPS[name](*at(x + s * step.reshape(x.shape),
                                                        lambda v: v))) for s in (1, -1)]
                expected[k] = (sides[0] - sides[1]) / 2e-6
            if got.shape != x.shape or not np.allclose(got.ravel(), expected, rtol=1e-6,
                                                       atol=1e-7):
                problems.append(f"{name}[{i}]: {got.ravel().tolist()} vs {expected.tolist()}")
    return problems


def test_the_autograd_table_is_the_spec_less_its_derivative_ops() -> None:
    ops, array, to_numpy = _table("autograd")
    assert set(SPEC) - set(ops) == LEFT_OUT
    assert check_op_table(ops, array, to_numpy) == []


def test_autograd_differentiates_every_op_of_its_table() -> None:
    assert _derivative_problems("autograd") == []


@pytest.mark.slow
def test_the_tensorflow_table_is_the_spec_less_its_derivative_ops(tf: Any) -> None:
    ops, array, to_numpy = _table("tensorflow")
    assert set(SPEC) - set(ops) == LEFT_OUT
    assert check_op_table(ops, array, to_numpy) == []


@pytest.mark.slow
def test_tensorflow_differentiates_every_op_of_its_table(tf: Any) -> None:
    assert _derivative_problems("tensorflow") == []


@pytest.mark.slow
def test_tensorflow_ops_follow_numpy_where_its_own_differ(tf: Any) -> None:
    ops, _, _ = _table("tensorflow")

    def grad(f: Callable[..., Any], *xs: float) -> list[float]:
        ts = [tf.constant(x, tf.float64) for x in xs]
        with tf.GradientTape() as tape:
            tape.watch(ts)
            y = f(*ts)
        return [g.numpy().tolist() for g in tape.gradient(y, ts)]

    assert grad(ops["logaddexp"], 0.5, 0.5) == [0.5, 0.5]  # tnp.logaddexp: [1, 0]
    assert grad(lambda x: ops["cumprod"](x, 0)[2], [2.0, 0.0, 3.0]) == [[0.0, 6.0, 0.0]]
    assert grad(ops["sinc"], 0.0) == [0.0]  # sin(pi x) / (pi x) alone: nan
    lo, hi = tf.constant(1.0, tf.float64), tf.constant(-1.0, tf.float64)
    assert ops["clip"](tf.constant(0.0, tf.float64), lo, hi).numpy() == np.clip(0.0, 1.0, -1.0)
    assert ops["mod"](tf.constant(-0.7, tf.float64), tf.constant(0.5, tf.float64)).numpy() == \
        pytest.approx(0.3, abs=1e-15)
    assert ops["hypot"](tf.constant(3e200, tf.float64), tf.constant(4e200, tf.float64)).numpy() \
        == pytest.approx(5e200, rel=1e-15)
    upper = ops["triu"](tf.constant([[1.0, np.inf], [np.inf, 2.0]], tf.float64), 0).numpy()
    np.testing.assert_array_equal(upper, [[1.0, np.inf], [0.0, 2.0]])


# --- the engines on built-in cases: values derived by hand ------------------------------------


def _prepared(framework: str, case: str) -> tuple[Any, Any]:
    (loaded,) = load_cases(CASES / f"{case}.toml")
    problem = lower(loaded)
    engine = registry.get_engine(framework)
    with engine.running():
        return problem, engine.prepare(problem)


def _engines() -> list[Any]:
    return ["autograd", pytest.param("tensorflow", marks=pytest.mark.slow)]


@pytest.mark.parametrize("framework", _engines())
def test_the_worked_example_and_built_in_cases_to_hand_derived_values(
        framework: str, request: pytest.FixtureRequest) -> None:
    if framework == "tensorflow":
        request.getfixturevalue("tf")
    # (w x - y)**2 at x = 1, y = 2, w = 1: 1, and -2 (x w - y) x = -2
    problem, prepared = _prepared(framework, "seed_linear_regression")
    assert prepared.value_and_grad(problem.point) == (1.0, pytest.approx([-2.0], abs=0))
    # Booth at 0: 49 + 25, (2 (-7) + 4 (-5), 4 (-7) + 2 (-5))
    problem, prepared = _prepared(framework, "testfn_booth")
    loss, grad = prepared.value_and_grad(problem.point)
    assert (loss, grad.tolist()) == (74.0, [-34.0, -38.0])
    # Rosenbrock at (-1.2, 1): y - x**2 = -0.44; 100 (0.44)**2 + 2.2**2, (-400 x (y - x**2) -
    # 2 (1 - x), 200 (y - x**2)); its Hessian ((-400 (y - x**2) + 800 x**2 + 2, -400 x),
    # (-400 x, 200)) and that times (1, -1)
    problem, prepared = _prepared(framework, "testfn_rosenbrock")
    loss, grad = prepared.value_and_grad(problem.point)
    assert loss == pytest.approx(24.2, rel=1e-15)
    np.testing.assert_allclose(grad, [-215.6, -88.0], rtol=1e-14)
    inputs = prepared.inputs(problem.point)
    hessian = prepared.phases["hessian"]
    np.testing.assert_allclose(hessian.read(hessian.call(inputs)), [1330.0, 480.0, 480.0, 200.0],
                               rtol=1e-14)
    hvp = prepared.phases["hvp"]
    np.testing.assert_allclose(hvp.read(hvp.call(inputs, prepared.inputs(np.array([1.0, -1.0])))),
                               [850.0, 280.0], rtol=1e-14)
    # constant rows of Z: softmax 1/3 each, loss log 3 + (1 + 3 * 9) / 2; d/dZ (1/3 - onehot) / 4;
    # w[idx] with idx = (0, 2, 2, 2): d/dw (1, 0, 3 * 3), the repeated index accumulating
    problem, prepared = _prepared(framework, "cross_entropy_labels")
    loss, grad = prepared.value_and_grad(problem.point)
    assert loss == pytest.approx(math.log(3) + 14, rel=1e-15)
    onehot = np.eye(3)[[2, 0, 1, 1]]
    np.testing.assert_allclose(grad, [*((1 / 3 - onehot) / 4).ravel(), 1.0, 0.0, 9.0],
                               rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("framework", _engines())
def test_the_engine_is_ok_on_built_in_cases_through_a_run(
        framework: str, request: pytest.FixtureRequest) -> None:
    if framework == "tensorflow":
        request.getfixturevalue("tf")
    cases = [case for name in ("seed_linear_regression", "testfn_rosenbrock", "ml_ridge")
             for case in load_cases(CASES / f"{name}.toml")]
    result = diffcmp.run_cases(cases, diffcmp.Options(engines=(framework,), timing=False,
                                                      order=2))
    rows = result.agreement[result.agreement["engine"] == framework]
    assert set(rows["derivative"]) == {"gradient", "hessian", "hvp"}
    assert (rows["status"] == "ok").all(), rows[["case", "derivative", "message"]]
    assert result.exit_code == 0


@pytest.mark.slow
def test_tensorflow_traces_in_prepare_on_its_threads(tf: Any) -> None:
    problem, prepared = _prepared("tensorflow", "testfn_rosenbrock")
    assert set(prepared.prepare_s) == {"build", "trace", "first call"}
    before = prepared.prepare_s["trace"]
    prepared.loss(prepared.inputs(problem.point))  # traced on its first call, timed apart
    assert prepared.prepare_s["trace"] > before
    assert float(prepared.loss(prepared.inputs(problem.point))) == pytest.approx(24.2, rel=1e-15)
    assert tf.config.threading.get_intra_op_parallelism_threads() == 1
    assert tf.config.threading.get_inter_op_parallelism_threads() == 1


def test_autograd_prepares_without_tracing() -> None:
    _, prepared = _prepared("autograd", "testfn_rosenbrock")
    assert set(prepared.prepare_s) == {"build", "first call"}


# --- optional: not in a default run, unsupported where missing --------------------------------


def test_the_optional_frameworks_run_only_when_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert not set(FRAMEWORKS) & set(registry.DEFAULT_ENGINES)
    assert not set(FRAMEWORKS) & set(diffcmp.Options().engines)
    assert set(FRAMEWORKS) <= set(registry.engine_names())
    optional = (*FRAMEWORKS, "pytensor", "casadi", "fd-richardson")
    assert registry.DEFAULT_ENGINES == tuple(name for name in registry.ENGINE_NAMES
                                             if name not in optional)
    assert cli.main(["list", "--engines"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "autograd  (built in, run when named)  tolerance 1e-10" in lines
    assert "tensorflow  (built in, run when named)  tolerance 1e-10" in lines
    assert "torch  (built in)  tolerance 1e-10" in lines


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_missing_framework_is_unsupported_naming_its_extra(
        framework: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sys.modules[name] = None`` makes its import fail, as where it is not installed."""
    monkeypatch.setitem(sys.modules, framework, None)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # restored after
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    engine = registry.engine_class(framework)
    monkeypatch.setattr(engine, "OPS", OptionalOps(f"diffcmp.ops.{framework}", framework,
                                                   framework))
    engine.start()  # a worker starts every engine it runs: nothing raised
    (case,) = load_cases(CASES / "seed_linear_regression.toml")
    with pytest.raises(UnsupportedError, match=rf"install diffcmp\[engines\] or "
                       rf"diffcmp\[{framework}\] \(pip install -e '\.\[{framework}\]'"):
        engine().prepare(lower(case))
    result = diffcmp.run_cases([case], diffcmp.Options(engines=("matcalc", framework),
                                                       timing=False))
    rows = result.agreement.set_index("engine")
    assert rows.loc["matcalc", "status"] == "ok"
    assert rows.loc[framework, "status"] == "unsupported"
    assert rows.loc[framework, "message"].startswith(f"{framework} is not installed")
    assert f"install diffcmp[engines] or diffcmp[{framework}]" in rows.loc[framework, "message"]
