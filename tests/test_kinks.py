"""Non-smooth points are classified as kinks, with one-sided derivatives; away from them, ok."""

from __future__ import annotations

import pytest

import diffcmp

# kind: (loss, params at the kink, params away, one-sided (left, right) of the first component)
KINKS = {
    "abs": ("abs(x) + x**2", {"x": 0.0}, {"x": -0.5}, (-1.0, 1.0)),
    "relu": ("relu(w) * 3 + w", {"w": 0.0}, {"w": 0.25}, (1.0, 4.0)),
    "max_tie": ("max(x, y)**2", {"x": 1.5, "y": 1.5}, {"x": 1.5, "y": 1.0}, (0.0, 3.0)),
    "min_tie": ("min(x, y) * 2", {"x": -1.0, "y": -1.0}, {"x": -1.0, "y": 2.0}, (2.0, 0.0)),
    "max_of_vector": ("max(v)", {"v": [1.0, 2.0, 2.0]}, {"v": [1.0, 2.0, 3.0]}, (0.0, 0.0)),
    "where_boundary": ("where(w < 1, w**2, 3*w - 2)", {"w": 1.0}, {"w": 0.5}, (2.0, 3.0)),
}


def test_a_switch_the_loss_is_smooth_across_is_graded() -> None:
    # sign(w) w^2 + w = w|w| + w has derivative 2|w| + 1: 1 on both sides of 0. The reference's
    # vectorised gradient, 2 w sign(w) + 1 (sign's own derivative is zero), is 1 there; SymPy's,
    # 2 w sign(w) + 2 w^2 DiracDelta(w) + 1, is 0 * nan
    result = diffcmp.compare("sign(w) * w**2 + w", {"w": 0.0}, timing=False)
    statuses = dict(zip(result.agreement["engine"], result.agreement["status"], strict=True))
    assert statuses == {"reference": "ok", "matcalc": "ok", "torch": "ok", "torch-fwd": "ok",
                        "jax": "ok", "jax-fwd": "ok",
                        "fd-complex": "unsupported",
                        # SymPy's compiled gradient evaluates 0 * DiracDelta(0) = nan
                        "sympy": "nan",
                        # the curvature jumps (-2 to 2): central differences are off by h/2
                        "fd-central": "mismatch"}, result.agreement[["engine", "message"]]
    assert result.gradients.query("engine == 'reference'")["value"].tolist() == [1.0]
    result = diffcmp.compare("sign(w) * w**2 + w", {"w": 2.0}, timing=False)
    assert set(result.agreement["status"]) == {"ok", "unsupported"}


@pytest.mark.parametrize("kind", sorted(KINKS))
def test_at_the_kink_every_engine_with_a_value_is_kink(kind: str) -> None:
    loss, at, _, (left, right) = KINKS[kind]
    result = diffcmp.compare(loss, at, timing=False)
    statuses = dict(zip(result.agreement["engine"], result.agreement["status"], strict=True))
    assert statuses.pop("fd-complex") == "unsupported"  # none of these losses is analytic
    assert set(statuses.values()) == {"kink"}, result.agreement[["engine", "message"]]
    assert result.exit_code == 0  # a kink does not fail the run
    messages = result.agreement.set_index("engine")["message"]
    assert messages["torch"].startswith("kink: ")
    one_sided = result.one_sided.iloc[0]
    assert (one_sided["left"], one_sided["right"]) == pytest.approx((left, right), abs=1e-20)


@pytest.mark.parametrize("kind", sorted(KINKS))
def test_away_from_the_kink_engines_agree(kind: str) -> None:
    loss, _, away, _ = KINKS[kind]
    result = diffcmp.compare(loss, away, timing=False)
    statuses = dict(zip(result.agreement["engine"], result.agreement["status"], strict=True))
    assert statuses.pop("fd-complex") == "unsupported"
    assert set(statuses.values()) == {"ok"}, result.agreement[["engine", "message"]]
    assert result.one_sided.empty


def test_the_message_names_the_node_and_shows_the_subgradient_picked() -> None:
    result = diffcmp.compare("abs(x)", {"x": 0.0}, timing=False, engines=["jax", "torch"])
    messages = result.agreement.set_index("engine")["message"]
    assert messages["torch"] == ("kink: abs(x) has argument 0; "
                                 "x: torch 0, one-sided -1 (left) / 1 (right)")
    assert "x: jax 1," in messages["jax"]  # JAX picks the right-hand slope at 0


def test_huber_boundary_has_equal_sides_and_is_graded() -> None:
    # Huber joins its branches with equal slopes (1 at r = 1): differentiable, so no kink
    loss = "where(abs(r) <= 1, r**2 / 2, abs(r) - 1/2)"
    result = diffcmp.compare(loss, {"r": 1.0}, timing=False, engines=["torch"])
    assert set(result.agreement["status"]) == {"ok"}
    assert result.one_sided.empty
    torch_grad = result.gradients.query("engine == 'torch'")["value"].tolist()
    assert torch_grad == [1.0]


def test_smooth_loss_has_no_switches() -> None:
    result = diffcmp.compare("exp(x) * sin(x)", {"x": 0.0}, timing=False)
    assert set(result.agreement["status"]) == {"ok"}
