"""Explain: the tutorial's forward pass, local gradients and backward pass on the loss as written
(its array graph, named as the case names it), against PyTorch; and as a Mermaid flowchart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import diffcmp
from diffcmp.cli import main
from diffcmp.explain import explain

SEED = Path(__file__).resolve().parent.parent / "cases" / "seed_linear_regression.toml"


def test_seed_walks_the_tutorials_backward_pass() -> None:
    table = explain(diffcmp.load_case(SEED)).table().set_index("node")
    # forward: yhat = w x = 1, s = yhat - y = -1, loss = s^2 = 1 (the tutorial's numbers)
    assert table.loc["yhat", "operation"] == "w * x" and table.loc["yhat", "value"] == 1.0
    assert table.loc["s", "operation"] == "yhat - y" and table.loc["s", "value"] == -1.0
    assert table.loc["loss", "operation"] == "s**2" and table.loc["loss", "value"] == 1.0
    # local gradients: dloss/ds = 2 s, ds/dyhat = 1, dyhat/dw = x (dyhat/dx, ds/dy: data)
    assert table.loc["loss", "local gradients"] == "dloss/ds = 2 * s"
    assert table.loc["s", "local gradients"] == "ds/dyhat = 1"
    assert table.loc["yhat", "local gradients"] == "dyhat/dw = x"
    # backward: dLoss/ds = dLoss/dyhat = dLoss/dw = -2, as PyTorch's retained gradients
    assert table.loc[["s", "yhat", "w"], "dloss/dnode"].tolist() == [-2.0, -2.0, -2.0]
    assert table.loc[["s", "yhat", "w"], "torch"].tolist() == [-2.0, -2.0, -2.0]
    assert table["agrees"].all()


def test_the_text_reads_as_the_tutorial(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(SEED)]) == 0
    out = capsys.readouterr().out
    for line in ("   yhat = w * x   = 1", "   s = yhat - y   = -1", "   loss = s**2    = 1",
                 "   dloss/ds = 2 * s = -2", "   ds/dyhat = 1", "   dyhat/dw = x = 1",
                 "   dLoss/dw = -2   torch -2   agrees", "   dLoss/dw = 2 * (w * x - y) * x"):
        assert line in out.splitlines(), line
    assert "(x, y are data: not needed)" in out


def test_mermaid_draws_the_same_graph(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(SEED), "--format", "mermaid"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "flowchart BT"
    assert '    n2["yhat = w * x<br/>= 1<br/>dLoss/dyhat = -2"]' in out
    assert '    n0 -->|"x = 1"| n2' in out  # w -> yhat, local gradient x = 1
    assert "    n1 -.-> n2" in out  # x is data: a dashed edge
    assert '    n4 -->|"2 * s = -2"| n5' in out


def test_array_nodes_are_the_cases_own_subexpressions() -> None:
    # sum((X @ w - y)**2): nodes X @ w, - y, **2, sum; dLoss/dw = 2 X^T (X w - y) = [224, 284]
    case = diffcmp.Case(name="lsq", loss="sum((X @ w - y)**2)", params={"w": [1.0, 2.0]},
                        data={"X": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "y": [1.0, 0.0, 2.0]})
    explanation = explain(case)
    table = explanation.table().set_index("node")
    assert table.loc["n1", "operation"] == "X @ w"
    assert table.loc["n1", "local gradients"] == "dn1/dw = g -> X.T @ g"
    np.testing.assert_array_equal(table.loc["w", "dloss/dnode"], [224.0, 284.0])
    assert table["agrees"].all()
    assert explanation.formulas == ["dLoss/dw = 2 * X.T @ (X @ w - y)"]


def test_a_mlp_of_21_parameters_on_8_points_is_explained() -> None:
    rng = np.random.default_rng(0)
    case = diffcmp.Case(name="mlp", loss="mean((tanh(X @ W1 + b1) @ w2 - y)**2)",
                        params={"W1": rng.normal(size=(2, 5)), "b1": rng.normal(size=5),
                                "w2": rng.normal(size=5)},
                        data={"X": rng.normal(size=(8, 2)), "y": rng.normal(size=8)})
    table = explain(case).table()
    assert len(table) < 20 and table["agrees"].all()


MLP_NODES = """description = "A two-layer net with its hidden layer named"
loss = "mean((H @ v - y)**2)"

[nodes]
H = "tanh(X @ W)"

[params]
W = [[0.1, -0.2, 0.3, 0.05], [0.4, 0.1, -0.3, 0.2], [-0.1, 0.25, 0.15, -0.05]]
v = [0.5, -0.4, 0.3, 0.2]

[data]
X = [[1.0, 0.5, -0.2], [0.3, -1.0, 0.8], [-0.5, 0.2, 0.1], [0.9, 0.4, -0.7], [0.0, -0.3, 0.6]]
y = [0.2, -0.1, 0.4, 0.0, 0.3]
"""


def test_an_array_valued_named_node_is_explained_and_summarised(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """[nodes] H = "tanh(X @ W)" has shape (5, 4): `diffcmp run` accepts the file, and so does
    explain (it once said "nodes.H: loss: must reduce to a scalar, but has shape (5, 4)")."""
    path = tmp_path / "mlp_nodes.toml"
    path.write_text(MLP_NODES)
    case = diffcmp.load_case(path)
    table = explain(case).table().set_index("node")
    x, w = np.array(case.data["X"]), np.array(case.params["W"])
    hidden = np.tanh(x @ w)
    assert table.loc["H", "operation"] == "tanh(n1)" and table.loc["n1", "operation"] == "X @ W"
    np.testing.assert_allclose(table.loc["H", "value"], hidden, rtol=1e-15)
    # dLoss/dH = 2/5 (H v - y) v^T, dLoss/dW = X^T (dLoss/dH * (1 - H**2))
    r = 2 / 5 * (hidden @ np.array(case.params["v"]) - np.array(case.data["y"]))
    d_hidden = np.outer(r, case.params["v"])
    np.testing.assert_allclose(table.loc["H", "dloss/dnode"], d_hidden, rtol=1e-13)
    np.testing.assert_allclose(table.loc["W", "dloss/dnode"],
                               x.T @ (d_hidden * (1 - hidden**2)), rtol=1e-13)
    assert table["agrees"].all()
    assert main(["explain", str(path)]) == 0
    text = capsys.readouterr().out
    assert "   H = tanh(n1)      = shape (5, 4), norm 0.991792, [0.309507, -0.197375, " \
        "0.119427, 0.158649, ...]" in text
    assert "   dLoss/dH = shape (5, 4), norm 0.213845, [0.0202523, " in text
    assert main(["run", str(path), "--no-timing", "--quiet", "--engines", "torch",
                 "--out", str(tmp_path / "r")]) == 0


def test_explain_refuses_a_point_the_case_does_not_have() -> None:
    with pytest.raises(diffcmp.DiffcmpError, match="no point 3"):
        explain(diffcmp.load_case(SEED), point=3)
