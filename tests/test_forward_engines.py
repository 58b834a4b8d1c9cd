"""The forward-mode engines (``torch-fwd``, ``jax-fwd``): a hand-derived gradient, and proof that
their gradient is forward mode (JVPs), not the reverse engines' VJPs under another name."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import diffcmp
from diffcmp.engines import get_engine
from diffcmp.symbolic.problem import lower

FORWARD = ("torch-fwd", "jax-fwd")

#: Rosenbrock, (1 - x)^2 + 100 (y - x^2)^2, at its classic start (-1.2, 1): loss 2.2^2 + 100 *
#: 0.44^2 = 24.2; dL/dx = -2 (1 - x) - 400 x (y - x^2) = -4.4 - 211.2 = -215.6 and
#: dL/dy = 200 (y - x^2) = -88 (by hand).
ROSENBROCK = diffcmp.Case(name="rosenbrock", loss="(1 - w[0])**2 + 100 * (w[1] - w[0]**2)**2",
                          params={"w": [-1.2, 1.0]})


@pytest.mark.parametrize("engine", FORWARD)
def test_rosenbrock_at_its_classic_start_by_hand(engine: str) -> None:
    problem = lower(ROSENBROCK)
    prepared = get_engine(engine).prepare(problem)
    loss, grad = prepared.value_and_grad(problem.point)
    assert loss == pytest.approx(24.2, rel=1e-14)
    np.testing.assert_allclose(grad, [-215.6, -88.0], rtol=1e-14)
    assert grad.dtype == np.float64


@pytest.mark.parametrize("engine", FORWARD)
def test_several_params_of_several_shapes_in_their_order(engine: str) -> None:
    # L = sum(W @ v) + a * b: dL/dW[i, j] = v[j], dL/dv[j] = sum_i W[i, j], dL/da = b, dL/db = a
    case = diffcmp.Case(name="shapes", loss="sum(W @ v) + a * b",
                        params={"W": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "v": [0.5, -1.0, 2.0],
                                "a": 3.0, "b": -2.0})
    problem = lower(case)
    loss, grad = get_engine(engine).prepare(problem).value_and_grad(problem.point)
    assert loss == pytest.approx(4.5 + 9.0 - 6.0, rel=1e-15)  # W @ v = [4.5, 9]
    expected = {"W": [[0.5, -1.0, 2.0], [0.5, -1.0, 2.0]], "v": [5.0, 7.0, 9.0], "a": -2.0,
                "b": 3.0}
    got = problem.split(grad)
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-15, err_msg=name)


def test_forward_engines_are_graded_and_timed_like_the_others() -> None:
    result = diffcmp.compare(ROSENBROCK.loss, ROSENBROCK.params, engines=["torch-fwd", "jax-fwd"],
                             min_time=0.001)
    statuses = result.agreement.set_index("engine")["status"]
    assert statuses.to_dict() == {"reference": "ok", "torch-fwd": "ok", "jax-fwd": "ok"}
    phases = {engine: set(rows["phase"]) for engine, rows in result.timing.groupby("engine")}
    assert {"grad", "loss", "prepare: first call"} <= phases["torch-fwd"]
    assert {"prepare: trace", "prepare: compile", "grad", "loss"} <= phases["jax-fwd"]


class _Marked(torch.autograd.Function):
    """The identity, with a forward rule (JVP) that says 3 and a reverse rule (VJP) that says 5:
    the gradient of ``sum(_Marked.apply(w))`` tells which mode computed it."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        return

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor) -> torch.Tensor:
        return 3 * tangent

    @staticmethod
    def backward(ctx: Any, cotangent: torch.Tensor) -> torch.Tensor:
        return 5 * cotangent


def test_torch_fwd_differentiates_by_jvps_and_torch_by_vjps() -> None:
    def loss_of(leaves: list[torch.Tensor]) -> torch.Tensor:
        return _Marked.apply(leaves[0]).sum()

    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for engine, mark in (("torch-fwd", 3.0), ("torch", 5.0)):
        leaf = w.clone().requires_grad_(get_engine(engine).leaves_require_grad)
        value, (grad,) = get_engine(engine).differentiate(loss_of)([leaf])
        assert float(value) == -0.5
        assert grad.tolist() == [mark] * 3, engine


def _loss_of(params: tuple[Any, ...], data: dict[str, Any]) -> Any:
    (w,) = params
    return jnp.sum(jnp.sin(w) * data["c"])


def test_jax_fwd_carries_one_tangent_per_parameter() -> None:
    """jacfwd pushes the n basis vectors through the loss side by side (vmap over n JVPs): the
    tangent of ``sin(w)``, ``cos(w)`` times each seed, is an (n, n) array. Reverse mode pulls
    back one cotangent and never holds more than n numbers at once."""
    n = 7
    with jax.enable_x64(True):
        args = ((jnp.arange(float(n)),), {"c": jnp.ones(n)})
        shapes = {}
        for engine in ("jax-fwd", "jax"):
            jaxpr = jax.make_jaxpr(get_engine(engine).differentiate(_loss_of))(*args).jaxpr
            shapes[engine] = {tuple(v.aval.shape) for eq in jaxpr.eqns for v in eq.outvars
                              if eq.primitive.name == "mul"}
            value, (grad,) = get_engine(engine).differentiate(_loss_of)(*args)
            assert float(value) == pytest.approx(np.sin(np.arange(float(n))).sum(), rel=1e-15)
            np.testing.assert_allclose(grad, np.cos(np.arange(float(n))), rtol=1e-15)
    assert (n, n) in shapes["jax-fwd"]
    assert all(np.prod(shape) <= n for shape in shapes["jax"])


def test_jax_fwd_never_uses_a_vjp() -> None:
    """A ``custom_vjp`` function has only a reverse rule: ``jax`` uses it (and its mark), and
    ``jax-fwd``, forward mode, cannot differentiate it at all."""
    @jax.custom_vjp
    def marked(x: Any) -> Any:
        return x

    marked.defvjp(lambda x: (x, None), lambda _, g: (5 * g,))

    def loss_of(params: tuple[Any, ...], data: dict[str, Any]) -> Any:
        return jnp.sum(marked(params[0]))

    with jax.enable_x64(True):
        w = (jnp.array([1.0, -2.0, 0.5]),)
        value, (grad,) = get_engine("jax").differentiate(loss_of)(w, {})
        assert (float(value), grad.tolist()) == (-0.5, [5.0] * 3)
        with pytest.raises(TypeError, match="forward-mode"):
            get_engine("jax-fwd").differentiate(loss_of)(w, {})


def test_a_forward_engine_that_fails_is_a_row_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no forward rule for this op")

    monkeypatch.setattr(torch.func, "jacfwd", broken)
    result = diffcmp.compare(ROSENBROCK.loss, ROSENBROCK.params, engines=["torch-fwd"],
                             timing=False)
    row = result.agreement.set_index("engine").loc["torch-fwd"]
    assert row["status"] == "error"
    assert "no forward rule for this op" in row["message"]
