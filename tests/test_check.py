"""Checking the user's own gradient: diffcmp.check and assert_gradients_agree, with and without a
symbolic loss, on PyTorch, JAX and hand-written gradients; tensors as inputs to compare()."""

from __future__ import annotations

import math

import numpy as np
import pytest

import diffcmp
from diffcmp.engines.fd_estimate import complex_step, richardson

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

X = np.array([[1.0, 2.0], [0.5, -1.0], [-2.0, 0.25]])
Y = np.array([1.0, 0.0, 1.0])
W0 = np.array([0.3, -0.2])
LOGISTIC = "sum(softplus(x @ w) - y * (x @ w))"
SOFTPLUS = "sum(softplus(w))"
W3 = [-1.0, 0.5, 2.0]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


# (a) logistic regression with its gradient written by hand: loss = sum(softplus(z) - y z) with
# z = x w, so dloss/dz = sigmoid(z) - y and dloss/dw = x^T (sigmoid(z) - y).
def logistic(w, x, y):
    z = x @ w
    loss = (torch.nn.functional.softplus(z) - y * z).sum()
    return loss, {"w": x.T @ (torch.sigmoid(z) - y)}


# (b) softplus with a wrong backward: d softplus(x)/dx = sigmoid(x), not sigmoid(-x).
class WrongSoftplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.log1p(torch.exp(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.sigmoid(-x)


def wrong_softplus(w):
    return WrongSoftplus.apply(w).sum()


# (c) softplus with a correct custom VJP: g * sigmoid(x).
@jax.custom_vjp
def _softplus(x):
    return jnp.logaddexp(x, 0.0)


_softplus.defvjp(lambda x: (_softplus(x), x), lambda x, g: (g * jax.nn.sigmoid(x),))


def jax_softplus(w):
    return jnp.sum(_softplus(w))


def _row(result: diffcmp.Result, engine: str) -> dict:
    rows = result.agreement[result.agreement["engine"] == engine]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


def _grad(result: diffcmp.Result, engine: str) -> np.ndarray:
    rows = result.gradients[result.gradients["engine"] == engine]
    return rows["value"].to_numpy()


@pytest.mark.parametrize("loss", [LOGISTIC, None], ids=["with loss", "without loss"])
def test_a_correct_hand_written_torch_gradient_passes(loss: str | None) -> None:
    result = diffcmp.check(logistic, {"w": torch.tensor(W0)},
                           {"x": torch.tensor(X), "y": torch.tensor(Y)}, loss=loss)
    assert result.ok
    row = _row(result, "logistic")
    assert row["status"] == "ok"
    expected = X.T @ (_sigmoid(X @ W0) - Y)
    np.testing.assert_allclose(_grad(result, "logistic"), expected, rtol=1e-14)
    np.testing.assert_allclose(_grad(result, "reference"), expected, rtol=1e-10)
    assert result.meta["check"]["gradient"].startswith("hand-written")
    if loss is None:  # softplus is not complex in PyTorch: Richardson, and it says so
        assert "Richardson" in _row(result, "reference")["message"]
        assert "## Reference" in result.to_markdown()
    else:
        assert set(result.agreement["engine"]) == {"reference", "logistic"}  # unless engines=


@pytest.mark.parametrize("loss", [SOFTPLUS, None], ids=["with loss", "without loss"])
def test_b_a_wrong_custom_backward_fails_naming_the_component(loss: str | None) -> None:
    result = diffcmp.check(wrong_softplus, {"w": torch.tensor(W3)}, loss=loss)
    assert not result.ok
    row = _row(result, "wrong_softplus")
    assert row["status"] == "mismatch"
    # rho_k = |s(-w) - s(w)| / (s(-w) + s(w)) = |tanh(w/2)|, worst at w[2] = 2: tanh(1) = 0.7616
    assert row["error"] == pytest.approx(math.tanh(1.0), rel=1e-12)
    assert row["message"] == (  # every component is off (sigmoid(-w) for sigmoid(w))
        "3 of 3 gradient components are off (error > tolerance 1e-10), the worst: w[2]: "
        "wrong_softplus 0.119202922022 vs reference 0.880797077978 (error 0.762); w[0]: "
        "wrong_softplus 0.73105857863 vs reference 0.26894142137 (error 0.462); w[1]: "
        "wrong_softplus 0.377540668798 vs reference 0.622459331202 (error 0.245)")
    np.testing.assert_allclose(_grad(result, "wrong_softplus"), _sigmoid(-np.array(W3)),
                               rtol=1e-15)
    with pytest.raises(AssertionError, match=r"w\[2\]"):
        diffcmp.assert_gradients_agree(wrong_softplus, {"w": torch.tensor(W3)}, loss=loss)


@pytest.mark.parametrize("loss", [SOFTPLUS, None], ids=["with loss", "without loss"])
def test_c_a_correct_jax_custom_vjp_passes(loss: str | None) -> None:
    before = jax.config.read("jax_enable_x64")
    result = diffcmp.assert_gradients_agree(jax_softplus, {"w": jnp.asarray(W3)}, loss=loss)
    assert jax.config.read("jax_enable_x64") == before  # x64 was local
    assert _row(result, "jax_softplus")["status"] == "ok"
    np.testing.assert_allclose(_grad(result, "jax_softplus"), _sigmoid(np.array(W3)),
                               rtol=1e-14)  # float64, not float32
    assert result.meta["check"] == {"row": "jax_softplus", "framework": "jax",
                                    "gradient": "jax.value_and_grad"}
    if loss is None:
        # logaddexp takes complex input through a max: the complex step is refused, and why
        message = _row(result, "reference")["message"]
        assert "complex step not used" in message and "w[0]" in message


def _tiny(w):
    # 2e-12 cos(w): its derivative is -2e-12 sin(w); this one says -2e-11 sin(w), 10x too large
    return 2e-12 * np.cos(w), {"w": -2e-11 * np.sin(w)}


def _tiny_real(w):
    value, grad = _tiny(w)
    return float(value), {"w": float(grad["w"])}  # refuses the complex step: Richardson


@pytest.mark.parametrize("fn", [_tiny, _tiny_real], ids=["complex step", "Richardson"])
def test_a_tiny_gradient_ten_times_too_large_is_a_mismatch_without_loss(fn) -> None:
    result = diffcmp.check(fn, {"w": 1.0})
    row = _row(result, fn.__name__)
    assert row["status"] == "mismatch"
    # |a - b| / (|a| + |b|) = 9 / 11 when a = 10 b
    assert row["error"] == pytest.approx(9 / 11, rel=1e-9)
    method = "complex-step" if fn is _tiny else "Richardson"
    assert method in _row(result, "reference")["message"]


def test_a_tiny_gradient_ten_times_too_large_is_a_mismatch_with_loss() -> None:
    result = diffcmp.check(_tiny, {"w": 1.0}, loss="2e-12 * cos(w)", engines=["sympy"])
    assert _row(result, "_tiny")["status"] == "mismatch"


def test_the_assertion_message_is_a_few_lines_with_engine_status_values_error_tolerance(
) -> None:
    with pytest.raises(AssertionError) as caught:
        diffcmp.assert_gradients_agree(wrong_softplus, {"w": torch.tensor(W3)})
    message = str(caught.value)
    assert message.splitlines() == [
        "diffcmp: 1 engine(s) disagree with the reference on 'wrong_softplus'",
        "  wrong_softplus: mismatch: 3 of 3 gradient components are off (error > tolerance "
        "1e-10), the worst: w[2]: wrong_softplus 0.119202922022 vs reference 0.880797077978 "
        "(error 0.762); w[0]: wrong_softplus 0.73105857863 vs reference 0.26894142137 (error "
        "0.462); w[1]: wrong_softplus 0.377540668798 vs reference 0.622459331202 (error 0.245)"]


def test_assert_gradients_agree_takes_a_loss_string_like_compare() -> None:
    result = diffcmp.assert_gradients_agree("(w*x - y)**2", {"w": 1.0}, {"x": 1.0, "y": 2.0},
                                            engines=["sympy"])
    assert result.timing.empty  # timing off unless asked
    with pytest.raises(AssertionError, match="expect grad w: expected -3, the reference says -2"):
        diffcmp.assert_gradients_agree("(w*x - y)**2", {"w": 1.0}, {"x": 1.0, "y": 2.0},
                                       engines=["sympy"], expect={"grad": {"w": -3.0}})


def test_compare_takes_tensors_and_jax_arrays() -> None:
    result = diffcmp.compare("sum(w**2) + a * b", {"w": torch.tensor([1.0, 2.0],
                                                                      requires_grad=True),
                                                   "a": jnp.asarray(3.0)},
                             {"b": np.float32(2.0)}, timing=False, engines=["sympy"])
    # d/dw = 2w = [2, 4], d/da = b = 2
    np.testing.assert_array_equal(_grad(result, "sympy"), [2.0, 4.0, 2.0])
    with pytest.raises(diffcmp.CaseError, match=r"params\.w is a complex tensor"):
        diffcmp.compare("sum(w**2)", {"w": torch.tensor([1j])}, timing=False)


def test_numpy_code_must_return_its_gradient_and_a_bad_one_is_named() -> None:
    result = diffcmp.check(lambda w: float(np.sum(w**2)), {"w": np.array([1.0, 2.0])})
    row = _row(result, "user")
    assert row["status"] == "error" and "cannot differentiate NumPy code" in row["message"]
    result = diffcmp.check(lambda w: (np.sum(w**2), {"w": 2 * w[:1]}), {"w": [1.0, 2.0]},
                           name="short")
    assert "the gradient of 'w' has shape (1,), but the param has shape (2,)" in \
        _row(result, "short")["message"]
    with pytest.raises(diffcmp.DiffcmpError, match="the name of an engine"):
        diffcmp.check(lambda w: (w, {"w": 1.0}), {"w": 1.0}, name="torch")


def test_a_function_with_randomness_is_refused() -> None:
    rng = np.random.default_rng(0)

    def noisy(w):
        return w**2 + rng.normal() * 1e-3, {"w": 2 * w}

    with pytest.raises(diffcmp.DiffcmpError, match="two different losses at the same point"):
        diffcmp.check(noisy, {"w": 1.0})


def test_richardson_and_the_complex_step_are_within_their_error_estimates() -> None:
    x = np.array([0.7, 1.9, 2.5])

    def f(v):  # exp(v0) + sin(v1) + log(v2): gradient [exp(v0), cos(v1), 1/v2]
        return np.exp(v[0]) + np.sin(v[1]) + np.log(v[2])

    exact = np.array([np.exp(0.7), np.cos(1.9), 1 / 2.5])
    estimate = richardson(f, x)
    assert np.all(np.abs(estimate.value - exact) <= estimate.error)
    assert np.all(estimate.error <= 1e-9 * np.abs(exact))
    np.testing.assert_allclose(complex_step(f, x), exact, rtol=1e-15)


def test_a_result_shows_itself_in_a_notebook_and_plots() -> None:
    result = diffcmp.check(wrong_softplus, {"w": torch.tensor(W3)})
    html = result._repr_html_()
    assert html.startswith("<div class='diffcmp-result'><p><strong>FAIL.</strong>")
    assert "<td class='diffcmp-fail'" in html and ">mismatch</td>" in html
    assert "<td class='diffcmp-pass'" in html  # the reference's row
    assert "w[2]: wrong_softplus 0.119202922022 vs reference 0.880797077978" in html
    assert "<table" in html and "DataFrame" not in html
    figures = result.plot()
    assert [figure.axes[0].get_title() for figure in figures] == [
        "Error against the high-precision reference, per case and engine"]


def test_hand_written_torch_code_gets_tensors_that_track_no_gradient() -> None:
    def cubes(w):  # d/dw sum(w^3) = 3 w^2 = [3, 12]; .numpy() fails on a tensor with grad
        return (w**3).sum(), {"w": (3 * w**2).numpy()}

    result = diffcmp.check(cubes, {"w": [1.0, 2.0]}, framework="torch")
    assert _row(result, "cubes")["status"] == "ok"
    np.testing.assert_array_equal(_grad(result, "cubes"), [3.0, 12.0])


# --- no silent pass: a loss that is not finite grades nothing, and says where it comes from ----

def _log_loss(w):
    return torch.log(w).sum()


def test_a_loss_of_minus_inf_is_not_ok_and_names_log_at_w0() -> None:
    # log(0) = -inf at w[0]: the loss is -inf, nothing can be graded there
    result = diffcmp.check(lambda w: torch.log(w).sum(), {"w": torch.tensor([0., 1.])})
    assert not result.ok and result.exit_code == 1
    reference = _row(result, "reference")
    assert reference["status"] == "undefined" and reference["loss"] == -math.inf
    assert reference["message"].startswith(
        "the function's loss is -inf at this point; the first non-finite value is "
        "log(0) = -inf at w[0] (torch.log, test_check.py:")
    with pytest.raises(AssertionError) as caught:
        diffcmp.assert_gradients_agree(_log_loss, {"w": torch.tensor([0., 1.])})
    lines = str(caught.value).splitlines()
    assert lines[0] == ("diffcmp: the loss is undefined at 1 point of '_log_loss', and nothing "
                        'declares it ([expect.status] reference = "undefined" in a case file, '
                        "allow_undefined=True in Python)")
    assert len(lines) == 2  # said once, by the reference's row, not again by yours
    assert "the function's loss is -inf" in lines[1] and "log(0) = -inf at w[0]" in lines[1]


def test_allow_undefined_lets_the_point_pass_without_saying_agree() -> None:
    result = diffcmp.assert_gradients_agree(_log_loss, {"w": torch.tensor([0., 1.])},
                                            allow_undefined=True)
    assert result.ok and result.exit_code == 0
    assert result.meta["options"]["allow_undefined"] is True
    from diffcmp.report.verdict import verdict
    assert verdict(result, links=False) == (
        "**NOTHING GRADED.** No engine was graded at the one point of the one case; 1 point is "
        "undefined (allowed).")
    # allowed, not required: a defined point is graded as usual
    defined = diffcmp.check(_log_loss, {"w": torch.tensor([2., 1.])}, allow_undefined=True)
    assert defined.ok and _row(defined, "_log_loss")["status"] == "ok"


def test_the_loss_given_too_your_row_still_says_where_your_loss_is_not_finite() -> None:
    result = diffcmp.check(_log_loss, {"w": torch.tensor([0., 1.])}, loss="sum(log(w))",
                           engines=["sympy"])
    assert not result.ok
    row = _row(result, "_log_loss")
    assert row["status"] == "undefined"
    assert "; your function's loss is -inf: the first non-finite value is log(0) = -inf at " \
        "w[0] (torch.log" in row["message"]
    assert diffcmp.check(_log_loss, {"w": torch.tensor([0., 1.])}, loss="sum(log(w))",
                         engines=["sympy"], allow_undefined=True).ok


@pytest.mark.parametrize(("fn", "params", "says"), [
    # nan, not -inf; log's input is w - 1, computed elementwise from w: still w[1]
    (lambda w: torch.sqrt(w - 2).sum(), {"w": torch.tensor([3., 1.])},
     "loss is nan at this point; the first non-finite value is sqrt(-1) = nan at w[1] "
     "(torch.sqrt"),
    (lambda w: torch.log(w - 1).sum(), {"w": torch.tensor([2., 1.])},
     "loss is -inf at this point; the first non-finite value is log(0) = -inf at w[1]"),
    (lambda m: torch.sqrt(m - 1).sum(), {"m": torch.tensor([[2., 3.], [1., 0.5]])},
     "the first non-finite value is sqrt(-0.5) = nan at m[1,1]"),
    (lambda w: (1 / w).sum(), {"w": torch.tensor([1., 0.])},
     "loss is inf at this point; the first non-finite value is 1 / 0 = inf at w[1]"),
    (lambda w: jnp.sqrt(w - 2).sum(), {"w": jnp.asarray([3., 1.])},
     "loss is nan at this point; the first non-finite value is sqrt(-1) = nan at w[1] "
     "(jax.lax.sqrt, test_check.py:"),
    (lambda w: jax.jit(lambda v: 2 * jnp.log(v))(w).sum(), {"w": jnp.asarray([2., 0.])},
     "the first non-finite value is log(0) = -inf at w[1]"),
    (lambda w: (np.log(w).sum(), {"w": 1 / w}), {"w": np.array([3., 0.])},
     "loss is -inf at this point; the first floating-point error is divide by zero in "
     "numpy's log (test_check.py:"),
], ids=["torch nan", "torch intermediate", "torch matrix", "torch operator", "jax nan",
        "jax inside jit", "numpy errstate"])
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # the NumPy case's own
def test_a_non_finite_loss_says_which_and_where(fn, params, says: str) -> None:
    result = diffcmp.check(fn, params)
    assert not result.ok
    assert says in _row(result, "reference")["message"]


def test_where_nothing_can_be_blamed_nothing_is() -> None:
    from diffcmp.engines.nonfinite import first_nonfinite

    w = {"w": np.array([1.0, 2.0])}
    # the inf comes in with the data: no operation made it
    assert first_nonfinite(lambda w, x: (w * x).sum(), "torch", w,
                           {"x": np.array([1.0, math.inf])}) == ""
    assert first_nonfinite(lambda w: (w**2).sum(), "torch", w, {}) == ""  # all finite

    def broken(w):
        raise RuntimeError("no")

    assert first_nonfinite(broken, "jax", w, {}) == ""  # the function's own failure: its row
