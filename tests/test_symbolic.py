"""Symbolic work: reverse-mode derivation equals sympy.diff; long sums compile; sizes count."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

from diffcmp.ops.sympy_functions import LogSumExp, Sigmoid, Softplus
from diffcmp.symbolic.derive import derive, reverse_gradient
from diffcmp.symbolic.graph import tree_ops
from diffcmp.symbolic.lambdify import lambdify_cse, modules

x, y, z = sp.symbols("x y z", real=True)

EXPRESSIONS = [
    (x * y - z) ** 2,
    sp.exp(x * y) * sp.sin(z) + sp.log(1 + x**2),
    x**x + sp.tanh(y) * sp.sqrt(z**2 + 1),
    sp.Max(x, y) + sp.Abs(z - x),
    sp.Piecewise((x**2, x < y), (3 * y, True)),
    Sigmoid(x * z) + Softplus(y) + LogSumExp(x, y, z),
    sp.atan2(y, x) * sp.erf(z),
    (4 * x * (1 - x)) ** 3 * (4 * x * (1 - x)),
]


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=str)
def test_reverse_mode_equals_sympy_diff(expr: sp.Expr) -> None:
    symbols = [x, y, z]
    forward = [sp.diff(expr, s) for s in symbols]
    reverse = reverse_gradient(expr, symbols)
    point = [mpmath.mpf("0.3"), mpmath.mpf("-0.7"), mpmath.mpf("1.3")]
    with mpmath.workdps(50):
        f = sp.lambdify(symbols, forward, modules=modules("mpmath"))(*point)
        r = sp.lambdify(symbols, list(reverse), modules=modules("mpmath"))(*point)
        for a, b in zip(f, r, strict=True):
            assert abs(a - b) < mpmath.mpf(10) ** -45


def test_tutorial_graph_by_reverse_mode() -> None:
    w, xx, yy = sp.symbols("w x y", real=True)
    # forward: y_hat = w x, s = y_hat - y, loss = s^2; backward: 2 s * 1 * x
    (grad,) = reverse_gradient((w * xx - yy) ** 2, [w])
    assert grad.subs({w: 1, xx: 1, yy: 2}) == -2


def test_a_3000_term_sum_derives_and_compiles() -> None:
    """Python's compiler overflows on one line summing 3,000 terms (2,000 still compile): the
    loss and its gradient are split over lines. Linear terms keep derivation and ``cse`` cheap;
    the sums are as long."""
    rng = np.random.default_rng(0)
    data = sp.symbols("d0:3000", real=True)
    loss = sp.Add(*[x * d for d in data])
    gradient = derive(loss, [x])
    assert gradient.method == "reverse"
    function = lambdify_cse([x, *data], gradient, "numpy")
    values = rng.normal(size=3000)
    loss_value, grad_value = function(0.5, *values)
    assert loss_value == pytest.approx(0.5 * np.sum(values))
    assert grad_value == pytest.approx(np.sum(values))


def test_small_losses_use_sympy_diff_and_show_swell() -> None:
    l0 = sp.Symbol("l0", real=True)
    expr = l0
    for _ in range(5):
        expr = 4 * expr * (1 - expr)
    gradient = derive(expr, [l0])
    assert gradient.method == "diff"
    sizes = gradient.sizes()
    assert sizes["grad_ops"] > sizes["grad_cse_ops"]


@pytest.mark.parametrize(("expr", "ops"), [
    (x + y + z, 2), (x * y * z, 2), (sp.exp(x) + sp.sin(y * z), 4),
    (x**2 - y, 3),  # Add(Pow(x, 2), Mul(-1, y)): negation counts as a multiplication
])
def test_tree_ops_counts_operations(expr: sp.Expr, ops: int) -> None:
    assert tree_ops([expr]) == ops


def test_tree_ops_counts_shared_subtrees_every_time() -> None:
    inner = sp.exp(x * y)
    assert tree_ops([inner * sp.sin(inner)]) == 2 + 2 + 1 + 1
