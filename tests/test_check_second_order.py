"""diffcmp.check at second order and in forward mode: your framework's Hessian (order=2), your own
Hessian-vector product (hvp=), graded against the certified reference (loss=) or against
differences of your own gradient (no loss=); your custom jvp rules (modes=("fwd", "rev")).

Every expected value is derived by hand in the comments; the product's direction is
diffcmp.run.second.tangent, the fixed seeded vector."""

from __future__ import annotations

import numpy as np
import pytest

import diffcmp
from diffcmp.errors import DiffcmpError
from diffcmp.run.second import tangent

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

# -- a bilinear term with a non-symmetric cross block --
# L(x, y) = x^T B y + |x|^2 / 2 + |y|^2 / 2, so grad_x = B y + x, grad_y = B^T x + y and
# H = [[I, B], [B^T, I]]: (Hv)_x = v_x + B v_y, (Hv)_y = B^T v_x + v_y. The bug writes B where
# B^T belongs (the y block), which a symmetric B would hide.
B = np.array([[1.0, 2.0], [3.0, 4.0]])
BILINEAR = "x @ b @ y + 0.5 * sum(x * x) + 0.5 * sum(y * y)"
POINT = {"x": np.array([1.0, -1.0]), "y": np.array([0.5, 2.0])}
H_BILINEAR = np.array([[1.0, 0.0, 1.0, 2.0],
                       [0.0, 1.0, 3.0, 4.0],
                       [1.0, 3.0, 1.0, 0.0],
                       [2.0, 4.0, 0.0, 1.0]])


def bilinear(x, y, b):
    return x @ b @ y + 0.5 * x @ x + 0.5 * y @ y, {"x": b @ y + x, "y": b.T @ x + y}


def right_hvp(v, x, y, b):
    return {"x": v["x"] + b @ v["y"], "y": b.T @ v["x"] + v["y"]}


def wrong_hvp(v, x, y, b):
    return {"x": v["x"] + b @ v["y"], "y": b @ v["x"] + v["y"]}   # B for B^T


def _rows(result, engine):
    table = result.agreement
    return {row["derivative"]: row for _, row in table[table["engine"] == engine].iterrows()}


@pytest.mark.parametrize("loss", [BILINEAR, None])
def test_a_right_hvp_passes(loss) -> None:
    result = diffcmp.check(bilinear, POINT, {"b": B}, loss=loss, hvp=right_hvp)
    rows = _rows(result, "bilinear")
    assert rows["gradient"]["status"] == "ok"
    assert rows["hvp"]["status"] == "ok"
    # a hand-written gradient has no framework Hessian: unsupported, saying why
    assert rows["hessian"]["status"] == "unsupported"
    assert "hand-written gradient: there is no framework Hessian" in rows["hessian"]["message"]
    assert result.ok
    product = result.hessians[(result.hessians["engine"] == "bilinear")
                              & (result.hessians["col"] == "v")]["value"].to_numpy()
    np.testing.assert_allclose(product, H_BILINEAR @ tangent(4), rtol=1e-12)
    if loss is not None:  # the certified reference's Hessian is H
        reference = result.hessians[(result.hessians["engine"] == "reference")
                                    & (result.hessians["col"] != "v")]["value"].to_numpy()
        np.testing.assert_allclose(reference, H_BILINEAR.ravel(), atol=1e-14)


@pytest.mark.parametrize("loss", [BILINEAR, None])
def test_a_transposed_block_in_the_hvp_is_caught(loss) -> None:
    result = diffcmp.check(bilinear, POINT, {"b": B}, loss=loss, hvp=wrong_hvp)
    rows = _rows(result, "bilinear")
    assert rows["gradient"]["status"] == "ok"
    assert rows["hvp"]["status"] == "mismatch"
    assert "(Hv)[y[" in rows["hvp"]["message"]
    assert not result.ok
    v = tangent(4)
    found = result.hessians[(result.hessians["engine"] == "bilinear")
                            & (result.hessians["col"] == "v")]["value"].to_numpy()
    # (Hv)_y = B v_x + v_y where B^T v_x + v_y belongs
    np.testing.assert_allclose(found[2:], B @ v[:2] + v[2:], rtol=1e-12)
    assert np.abs(found[2:] - (B.T @ v[:2] + v[2:])).max() > 0.1


def test_the_hvp_takes_a_bare_array_for_a_single_param() -> None:
    # L = w0 w1^2 + w0^3: H = [[6 w0, 2 w1], [2 w1, 2 w0]]; at (1, 2): [[6, 4], [4, 2]]
    def cubic(w):
        return w[0] * w[1] ** 2 + w[0] ** 3, np.array([w[1] ** 2 + 3 * w[0] ** 2,
                                                       2 * w[0] * w[1]])

    def hvp(v, w):
        return np.array([6 * w[0] * v[0] + 2 * w[1] * v[1], 2 * w[1] * v[0] + 2 * w[0] * v[1]])

    def hvp_transposed_wrong(v, w):  # the off-diagonal 2 w1 taken as w1 in one place
        return np.array([6 * w[0] * v[0] + w[1] * v[1], 2 * w[1] * v[0] + 2 * w[0] * v[1]])

    point = {"w": np.array([1.0, 2.0])}
    assert diffcmp.check(cubic, point, hvp=hvp).ok
    assert diffcmp.check(cubic, point, loss="w[0] * w[1]**2 + w[0]**3", hvp=hvp).ok
    assert not diffcmp.check(cubic, point, hvp=hvp_transposed_wrong).ok


# -- the framework's own Hessian --
# Rosenbrock (1 - a)^2 + 100 (b - a^2)^2 at (-1.2, 1): H = [[2 - 400 (b - 3 a^2), -400 a],
# [-400 a, 200]] = [[2 - 400 (1 - 4.32), 480], [480, 200]] = [[1330, 480], [480, 200]].
ROSENBROCK = "(1 - w[0])**2 + 100 * (w[1] - w[0]**2)**2"
H_ROSENBROCK = np.array([1330.0, 480.0, 480.0, 200.0])


def _rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("loss", [ROSENBROCK, None])
def test_the_framework_hessian_of_a_right_function_is_ok(framework, loss) -> None:
    w = torch.tensor([-1.2, 1.0], dtype=torch.float64) if framework == "torch" else \
        np.array([-1.2, 1.0])
    kwargs = {"framework": "jax"} if framework == "jax" else {}
    result = diffcmp.check(_rosenbrock, {"w": w}, loss=loss, order=2, name="rosen", **kwargs)
    rows = _rows(result, "rosen")
    assert [rows[d]["status"] for d in ("gradient", "hessian", "hvp")] == ["ok"] * 3
    assert result.ok
    found = result.hessians[(result.hessians["engine"] == "rosen")
                            & (result.hessians["col"] != "v")]["value"].to_numpy()
    np.testing.assert_allclose(found, H_ROSENBROCK, rtol=1e-12)
    assert result.meta["check"]["order"] == 2


def test_the_users_hvp_replaces_the_framework_product() -> None:
    def quadratic(w, a):  # L = w^T A w / 2 with A non-symmetric: H = (A + A^T) / 2
        return 0.5 * w @ a @ w

    def hvp_without_symmetrising(v, w, a):  # A v where (A + A^T) v / 2 belongs
        return a @ v

    a = torch.tensor([[2.0, 1.0], [-3.0, 5.0]], dtype=torch.float64)
    w = torch.tensor([0.5, -1.0], dtype=torch.float64)
    result = diffcmp.check(quadratic, {"w": w}, {"a": a}, loss="0.5 * (w @ a @ w)",
                           hvp=hvp_without_symmetrising)
    rows = _rows(result, "quadratic")
    assert rows["hessian"]["status"] == "ok"  # torch.func.hessian: (A + A^T) / 2
    assert rows["hvp"]["status"] == "mismatch"
    found = result.hessians[(result.hessians["engine"] == "quadratic")
                            & (result.hessians["col"] != "v")]["value"].to_numpy()
    np.testing.assert_allclose(found, [2.0, -1.0, -1.0, 5.0], rtol=1e-14)


def test_a_numpy_function_without_hvp_has_no_second_order() -> None:
    result = diffcmp.check(bilinear, POINT, {"b": B}, order=2)
    rows = _rows(result, "bilinear")
    assert rows["hessian"]["status"] == rows["hvp"]["status"] == "unsupported"
    assert "pass hvp= to grade your own" in rows["hvp"]["message"]
    assert result.ok


# -- forward mode: custom jvp rules --
# d(x^3)/dx = 3 x^2; the jvp rule below says 2 x^2. At w = (1, 2) the gradient of sum(w^3) is
# (3, 12) and the wrong forward mode gives (2, 8).
class Cube(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x ** 3

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2

    @staticmethod
    def jvp(ctx, tangent):
        (x,) = ctx.saved_tensors
        return tangent * 2 * x ** 2  # should be 3 x^2


def torch_cube(w):
    return Cube.apply(w).sum()


@pytest.mark.parametrize("loss", ["sum(w**3)", None])
def test_a_wrong_torch_jvp_is_caught_in_forward_mode_only(loss) -> None:
    w = {"w": torch.tensor([1.0, 2.0], dtype=torch.float64)}
    assert diffcmp.check(torch_cube, w, loss=loss).ok  # reverse mode: the right backward
    result = diffcmp.check(torch_cube, w, loss=loss, modes=("fwd", "rev"))
    assert _rows(result, "torch_cube")["gradient"]["status"] == "ok"
    forward = _rows(result, "torch_cube[fwd]")["gradient"]
    assert forward["status"] == "mismatch"
    assert not result.ok
    found = result.gradients[result.gradients["engine"] == "torch_cube[fwd]"]["value"]
    np.testing.assert_allclose(found.to_numpy(), [2.0, 8.0], rtol=1e-14)
    assert result.meta["check"]["forward"] == {
        "row": "torch_cube[fwd]",
        "gradient": "forward mode (torch.autograd.forward_ad, one pass per param element)"}


def test_an_autograd_function_without_jvp_is_unsupported_in_forward_mode() -> None:
    class NoJvp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x ** 2

    def cube(w):
        return NoJvp.apply(w).sum()

    result = diffcmp.check(cube, {"w": torch.tensor([1.0, 2.0], dtype=torch.float64)},
                           loss="sum(w**3)", modes=("fwd", "rev"))
    forward = _rows(result, "cube[fwd]")["gradient"]
    assert forward["status"] == "unsupported"
    assert "jvp" in forward["message"]


# JAX derives reverse mode from a custom_jvp rule by transposing it: a wrong rule makes both modes
# wrong, so reverse mode alone already catches it.
@jax.custom_jvp
def _jax_cube(x):
    return x ** 3


_jax_cube.defjvp(lambda primals, tangents: (_jax_cube(primals[0]),
                                            2 * primals[0] ** 2 * tangents[0]))


def jax_cube(w):
    return jnp.sum(_jax_cube(w))


# A custom_vjp has no forward mode at all: JAX refuses it, and the row says so.
@jax.custom_vjp
def _vjp_cube(x):
    return x ** 3


_vjp_cube.defvjp(lambda x: (_vjp_cube(x), x), lambda x, g: (g * 3 * x ** 2,))


def vjp_cube(w):
    return jnp.sum(_vjp_cube(w))


def test_a_wrong_jax_custom_jvp_is_wrong_in_both_modes() -> None:
    result = diffcmp.check(jax_cube, {"w": jnp.array([1.0, 2.0])}, loss="sum(w**3)",
                           modes=("fwd", "rev"))
    assert _rows(result, "jax_cube")["gradient"]["status"] == "mismatch"
    assert _rows(result, "jax_cube[fwd]")["gradient"]["status"] == "mismatch"
    for row in ("jax_cube", "jax_cube[fwd]"):
        found = result.gradients[result.gradients["engine"] == row]["value"].to_numpy()
        np.testing.assert_allclose(found, [2.0, 8.0], rtol=1e-14)


@pytest.mark.parametrize("loss", ["sum(w**3)", None])
def test_a_jax_custom_vjp_has_no_forward_mode(loss) -> None:
    result = diffcmp.check(vjp_cube, {"w": jnp.array([1.0, 2.0])}, loss=loss,
                           modes=("fwd", "rev"))
    assert _rows(result, "vjp_cube")["gradient"]["status"] == "ok"
    forward = _rows(result, "vjp_cube[fwd]")["gradient"]
    assert forward["status"] == "unsupported"
    assert "custom_vjp" in forward["message"]
    assert result.ok


def test_a_hand_written_gradient_has_no_forward_mode() -> None:
    result = diffcmp.check(bilinear, POINT, {"b": B}, loss=BILINEAR, modes=("fwd", "rev"))
    forward = _rows(result, "bilinear[fwd]")["gradient"]
    assert forward["status"] == "unsupported"
    assert "no forward mode to check" in forward["message"]


def test_bad_arguments_are_refused() -> None:
    w = {"w": torch.tensor([1.0, 2.0], dtype=torch.float64)}
    with pytest.raises(DiffcmpError, match="modes must be"):
        diffcmp.check(torch_cube, w, modes=("fwd",))
    with pytest.raises(DiffcmpError, match="modes must be"):
        diffcmp.check(torch_cube, w, modes="fwd")
    with pytest.raises(DiffcmpError, match="order must be 1 or 2"):
        diffcmp.check(torch_cube, w, order=3)
    with pytest.raises(DiffcmpError, match="hvp must be a function"):
        diffcmp.check(torch_cube, w, hvp=1.0)


def test_the_hessian_runs_through_an_autograd_function_without_vmap_support() -> None:
    # sum(w^3): H = diag(6 w) = diag(6, 12) at (1, 2); Cube's backward is right, and the
    # Hessian differentiates the backward (its jvp rule only moves the loss's tangent)
    result = diffcmp.check(torch_cube, {"w": torch.tensor([1.0, 2.0], dtype=torch.float64)},
                           loss="sum(w**3)", order=2)
    assert _rows(result, "torch_cube")["hessian"]["status"] == "ok"
    found = result.hessians[(result.hessians["engine"] == "torch_cube")
                            & (result.hessians["col"] != "v")]["value"].to_numpy()
    np.testing.assert_allclose(found, [6.0, 0.0, 0.0, 12.0], rtol=1e-14)


def test_a_jax_custom_vjp_has_no_framework_hessian() -> None:
    result = diffcmp.check(vjp_cube, {"w": jnp.array([1.0, 2.0])}, loss="sum(w**3)", order=2)
    rows = _rows(result, "vjp_cube")
    assert rows["hessian"]["status"] == rows["hvp"]["status"] == "unsupported"
    assert "custom_vjp" in rows["hessian"]["message"]
