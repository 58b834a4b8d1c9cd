"""Explain: the tutorial's forward pass, local gradients and backward pass, against PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest

import diffcmp
from diffcmp.cli import main
from diffcmp.explain import explain

SEED = Path(__file__).resolve().parent.parent / "cases" / "seed_linear_regression.toml"


def test_seed_walks_the_tutorials_backward_pass() -> None:
    table = explain(diffcmp.load_case(SEED)).table().set_index("node")
    # forward: y_hat = w x = 1, s = y_hat - y = -1, loss = s^2 = 1 (the tutorial's numbers)
    assert table.loc["n1", "operation"] == "w * x" and table.loc["n1", "value"] == 1.0
    assert table.loc["n3", "value"] == -1.0
    assert table.loc["loss", "value"] == 1.0
    # local gradient dloss/ds = 2 s = -2; backward: dLoss/ds = dLoss/dy_hat = dLoss/dw = -2
    assert table.loc["loss", "local gradients"] == "dloss/dn3 = -2"
    assert table.loc[["n3", "n1", "w"], "dloss/dnode"].tolist() == [-2.0, -2.0, -2.0]
    assert table.loc[["n3", "n1", "w"], "torch"].tolist() == [-2.0, -2.0, -2.0]
    assert table["agrees"].all()


def test_every_node_agrees_with_torch_on_an_ml_case() -> None:
    case = diffcmp.Case(name="logistic", loss="sum(softplus(-y * (X @ w)))",
                        params={"w": [0.4, -0.3]},
                        data={"X": [[1.0, -2.0], [0.5, 1.5]], "y": [1.0, -1.0]})
    table = explain(case).table()
    assert len(table) > 8
    assert table["agrees"].all()


def test_cli_explain_prints_three_steps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(SEED)]) == 0
    out = capsys.readouterr().out
    assert "1. Forward pass" in out and "2. Local gradients" in out
    assert "dLoss/dw = -2   torch -2   agrees" in out


def test_explain_refuses_a_point_the_case_does_not_have() -> None:
    with pytest.raises(diffcmp.DiffcmpError, match="no point 3"):
        explain(diffcmp.load_case(SEED), point=3)
