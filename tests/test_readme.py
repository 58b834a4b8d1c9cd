"""The README's examples stay true: its `diffcmp explain` output is what the command prints, its
TOML blocks load, and its Python snippets run and give what their comments say (slow: they
import PyTorch and JAX and grade four functions).

Left to a person: the `diffcmp run cases/` and `run_suite(["cases/"])` examples (minutes;
``tests/test_builtin_suite.py`` runs the suite under ``-m slow``), the sweep's timings, and the
pytest template that imports the user's own ``mymodel``."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

import diffcmp
from diffcmp.cli import main
from diffcmp.config import resolve

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SEED = ROOT / "cases" / "seed_linear_regression.toml"


def blocks(language: str) -> list[str]:
    """The README's fenced blocks of ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", README, flags=re.M | re.S)


def test_explain_prints_what_the_readme_shows(capsys: pytest.CaptureFixture[str]) -> None:
    shown = next(b for b in blocks("") if b.startswith("$ diffcmp explain "))
    command, expected = shown.split("\n", 1)
    assert command == "$ diffcmp explain cases/seed_linear_regression.toml"
    assert main(["explain", str(SEED)]) == 0
    assert capsys.readouterr().out == expected
    assert main(["explain", str(SEED), "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.replace("```mermaid\n", "").replace("```\n", "") \
        == blocks("mermaid")[0]


def test_the_toml_blocks_load(tmp_path: Path) -> None:
    case_file, generated, sweep, settings = [b for b in blocks("toml")
                                             if "diffcmp.engines" not in b]  # a plugin's
    (tmp_path / "case.toml").write_text(case_file)
    case, seed = diffcmp.load_case(tmp_path / "case.toml"), diffcmp.load_case(SEED)
    assert (case.params, case.data) == (seed.params, seed.data)
    assert case.expect["loss"] == seed.expect["loss"] == 1.0
    assert case.expect["grad"]["w"] == seed.expect["grad"]["w"] == -2.0
    (tmp_path / "generated.toml").write_text(
        'loss = "p * (sum(X) + sum(w) + sum(y) + sum(t) + sum(j))"\n[params]\np = 1.0\n'
        + generated + sweep)
    made = diffcmp.load_case(tmp_path / "generated.toml")
    assert made.size == 100
    assert {name: value.shape for name, value in made.data.items()} == {
        "X": (100, 2), "w": (3,), "y": (100,), "t": (100,), "j": (8,)}
    (tmp_path / "pyproject.toml").write_text(settings)
    found = resolve({}, start=tmp_path)
    assert (found["engines"], found["tolerance"], found["timeout"], found["min_time"]) == (
        ["torch", "jax"], {"fd-central": 1e-5}, 120, 0.1)
    assert found["out"] == str(tmp_path / "reports" / "latest-run")


def _expectations(source: str) -> dict[int, str]:
    """For each line of ``source`` with code, the comment that says what it gives: the comment
    on the line itself, else the comment lines below it (their ``#`` taken off, joined)."""
    comments = {token.start[0]: token.string[1:].strip() for token in
                tokenize.generate_tokens(io.StringIO(source).readline)
                if token.type == tokenize.COMMENT}
    lines = source.splitlines()
    found: dict[int, str] = {}
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            below, more = [], number + 1
            while more <= len(lines) and lines[more - 1].lstrip().startswith("#"):
                below.append(comments[more])
                more += 1
            found[number] = comments.get(number) or " ".join(below)
    return found


def _same(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow
def test_the_python_snippets_run_and_give_what_their_comments_say(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Python block from "Check your own gradient" on, in order in one namespace, as a
    reader pastes them: a ``# True``/``# False`` comment is the value, ``# AssertionError: ...``
    the failure and ``# '...'`` the string (whitespace aside)."""
    monkeypatch.chdir(ROOT)
    snippets = [b for b in blocks("python")
                if "run_suite" not in b and "from mymodel import" not in b
                and "OpTableEngine" not in b]  # the plugin example: tests/test_plugins.py
    assert len(snippets) == 7
    namespace: dict[str, object] = {"__name__": "readme"}
    checked = 0
    for snippet in snippets:
        expected = _expectations(snippet)
        for node in ast.parse(snippet).body:
            said = expected.get(node.end_lineno or node.lineno, "")
            if isinstance(node, ast.Expr) and said.startswith("AssertionError: "):
                with pytest.raises(AssertionError) as raised:
                    eval(compile(ast.Expression(node.value), "README.md", "eval"), namespace)
                assert _same(str(raised.value)) == _same(said.removeprefix("AssertionError: "))
                checked += 1
            elif isinstance(node, ast.Expr) and re.match(r"(True|False|')", said):
                value = eval(compile(ast.Expression(node.value), "README.md", "eval"), namespace)
                if said.startswith("'"):
                    assert _same(value) == _same(said.strip("'"))
                else:
                    assert value is (re.split(r"[\s:]", said)[0] == "True")
                checked += 1
            else:
                exec(compile(ast.Module([node], []), "README.md", "exec"), namespace)
    assert checked >= 6, checked
