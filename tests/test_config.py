"""[tool.diffcmp] in the nearest pyproject.toml: defaults for `diffcmp run` and the plugin, flags
override it, bad tables are errors naming the file, and the report says where settings came
from."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffcmp import DiffcmpError, Result
from diffcmp.cli import main
from diffcmp.config import resolve

SEED = Path(__file__).resolve().parent.parent / "cases" / "seed_linear_regression.toml"


def _project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.diffcmp]\n{table}")
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    return tmp_path


def test_flags_override_the_table_which_overrides_the_defaults(tmp_path: Path) -> None:
    project = _project(tmp_path, 'engines = "sympy,torch"\ntimeout = 30\npaths = ["cases"]\n'
                       "tolerance = { fd-central = 1e-5 }\n")
    settings = resolve({"engines": ["jax"], "timeout": None}, project / "sub" / "deeper")
    where = f"{project / 'pyproject.toml'} [tool.diffcmp]"
    assert settings.values["engines"] == ["jax"] and settings.sources["engines"] == "command line"
    assert settings.values["timeout"] == 30.0 and settings.sources["timeout"] == where
    assert settings.values["paths"] == [str(project / "cases")]  # relative to the file
    assert settings.values["tolerance"] == {"fd-central": 1e-5}
    assert settings.values["min_time"] == 0.2 and settings.sources["min_time"] == "default"


@pytest.mark.parametrize(("table", "message"), [
    ("engine = ['torch']", r"\[tool.diffcmp\] unknown key 'engine'; did you mean 'engines'\?"),
    ("engines = ['tourch']", r"engines: unknown engine 'tourch'; did you mean 'torch'\?"),
    ("timeout = -1", r"\[tool.diffcmp\] timeout must be a positive number of seconds, not -1"),
    ("tolerance = { torch = 'tight' }", r"tolerance.torch must be a non-negative number"),
    ("paths = 3", r"\[tool.diffcmp\] paths must be a list of paths"),
])
def test_bad_tables_are_errors_naming_the_file(tmp_path: Path, table: str, message: str) -> None:
    project = _project(tmp_path, table + "\n")
    with pytest.raises(DiffcmpError, match=message) as caught:
        resolve({}, project)
    assert str(caught.value).startswith(str(project / "pyproject.toml"))


def test_a_table_setting_changes_what_diffcmp_run_does(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path, f'paths = ["{SEED}"]\nengines = ["sympy"]\nout = "report"\n'
                       "tolerance = { sympy = 1e-12 }\n")
    monkeypatch.chdir(project / "sub")
    # no PATH, no --engines, no --out: all three come from the table
    assert main(["run", "--no-timing", "--quiet", "--timeout", "120"]) == 0
    result = Result.from_json((project / "report" / "results.json").read_text())
    assert set(result.agreement["engine"]) == {"reference", "sympy"}
    assert result.agreement.set_index("engine").loc["sympy", "tolerance"] == 1e-12
    report = (project / "report" / "report.md").read_text()
    where = f"{project / 'pyproject.toml'} [tool.diffcmp]"
    settings = result.meta["settings"]
    assert settings["engines"] == {"value": "sympy", "source": where}
    assert settings["timeout"] == {"value": "120", "source": "command line"}
    assert settings["min_time"]["source"] == "default"
    assert "## Settings" in report and where in report


def test_a_bad_table_stops_diffcmp_run_with_an_error(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, "min_time = 'fast'\n")
    monkeypatch.chdir(project)
    assert main(["run", str(SEED)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {project / 'pyproject.toml'}: [tool.diffcmp] min_time must be a positive number "
        "of seconds, not 'fast'")


def test_run_without_paths_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, "timeout = 10\n")
    monkeypatch.chdir(project)
    assert main(["run"]) == 2
    assert "no PATH given, and no [tool.diffcmp] paths in" in capsys.readouterr().err
