"""The pytest plugin: case files as test items, one per case, failing with a few lines; what it
collects and what it never does; its options and [tool.diffcmp] defaults. The seed case runs
as a user would, in a fresh pytest process; the rest in pytester's in-process pytest, all with
``-p diffcmp.pytest_plugin`` (an installed diffcmp registers the ``pytest11`` entry point)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import diffcmp.cases
import diffcmp.report.short
import diffcmp.result
import diffcmp.run.isolation  # noqa: F401  (see PLUGIN below)
from diffcmp import pytest_plugin

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
# imported here, so that pytester's in-process runs share this process's modules (NumPy cannot
# be imported twice in one process, and the plugin imports diffcmp's heavy modules only when a
# case file is collected: those above)
PLUGIN = ("-p", pytest_plugin.__name__, "-p", "no:cacheprovider", "-W",
          "ignore::pytest.PytestAssertRewriteWarning")


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", "pytest", "-n", "0", *PLUGIN, *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def test_the_seed_case_file_is_one_passing_test() -> None:
    run = _pytest(ROOT, "cases/seed_linear_regression.toml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A research repository: case files, a non-case TOML, a Python case file, research code
    that defines CASE but must never run, and defaults in [tool.diffcmp]."""
    tmp_path = pytester.path
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "research"\n\n[tool.pytest.ini_options]\n'
        'testpaths = ["research", "cases"]\n\n[tool.diffcmp]\nengines = ["sympy"]\n')
    cases, research = tmp_path / "cases", tmp_path / "research"
    cases.mkdir()
    research.mkdir()
    (cases / "good.toml").write_text('loss = "sum(w**2)"\n[params]\nw = [1.0, 2.0]\n')
    (cases / "wrong.toml").write_text(
        'loss = "(w*x - y)**2"\n[params]\nw = 1.0\n[data]\nx = 1.0\ny = 2.0\n'
        "[expect]\ngrad = { w = -3.0 }\n")  # dLoss/dw = 2 (w x - y) x = -2, not -3
    (cases / "absolute.toml").write_text(
        'loss = "abs(w) + w**2"\n[params]\nw = 0.5\n[expect.status]\n'
        'fd-complex = "unsupported"\n')
    (cases / "settings.toml").write_text("[tool]\nname = 'not a case'\n")
    (cases / "pyproject.toml").write_text('loss = "w"\n[params]\nw = 1.0\n')  # never a case
    (cases / "two.py").write_text(
        "import diffcmp\nCASES = [diffcmp.Case(name='cube', loss='w**3', params={'w': 2.0}),\n"
        "         diffcmp.Case(name='exp', loss='exp(w)', params={'w': 0.5})]\n")
    (research / "model.py").write_text(
        "import diffcmp\nCASE = diffcmp.Case(name='research', loss='w**2', params={'w': 1.0})\n"
        "raise SystemExit('research code ran')\n")
    return pytester


def test_case_files_run_as_items_and_fail_in_a_few_lines(project: pytest.Pytester) -> None:
    run = project.runpytest_inprocess(*PLUGIN, "-rA", "cases")
    out = run.stdout.str()
    run.assert_outcomes(passed=4, failed=1)
    # [tool.diffcmp] engines = ["sympy"]: fd-complex, which absolute.toml declares unsupported,
    # did not run, and its declaration is ignored
    for line in ("PASSED cases/good.toml::good", "PASSED cases/two.py::cube",
                 "PASSED cases/two.py::exp", "FAILED cases/wrong.toml::wrong",
                 "PASSED cases/absolute.toml::absolute"):
        assert line in out
    failure = out[out.index("_ diffcmp case wrong _"):].splitlines()[1:3]
    assert failure == ["diffcmp: the expectations of 'wrong' do not hold",
                       "  expect grad w: expected -3, the reference says -2"]
    assert "Traceback" not in out and "DataFrame" not in out and "settings.toml" not in out


def test_a_flag_overrides_the_table(project: pytest.Pytester) -> None:
    run = project.runpytest_inprocess(*PLUGIN, "--diffcmp-engines", "sympy,fd-complex",
                                      "cases/absolute.toml")
    run.assert_outcomes(passed=1)
    bad = project.runpytest_inprocess(*PLUGIN, "--diffcmp-engines", "tourch",
                                      "cases/absolute.toml")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown engine 'tourch'; did you mean 'torch'?" in bad.stderr.str()


def test_testpaths_never_turn_research_code_into_case_files(project: pytest.Pytester) -> None:
    run = project.runpytest_inprocess(*PLUGIN, "--collect-only", "-q")
    assert run.ret == pytest.ExitCode.OK, run.stdout.str()
    collected = [line for line in run.stdout.lines if "::" in line]
    assert collected == ["cases/absolute.toml::absolute", "cases/good.toml::good",
                         "cases/wrong.toml::wrong"]
    named = project.runpytest_inprocess(*PLUGIN, "--collect-only", "-q", "cases")
    assert [line for line in named.stdout.lines if "::" in line] == [
        "cases/absolute.toml::absolute", "cases/good.toml::good", "cases/two.py::cube",
        "cases/two.py::exp", "cases/wrong.toml::wrong"]


def test_an_undefined_point_fails_its_item_unless_the_case_declares_it(
        pytester: pytest.Pytester) -> None:
    cases = pytester.path / "cases"
    cases.mkdir()
    (cases / "log0.toml").write_text('loss = "log(w)"\n[params]\nw = 0.0\n')
    (cases / "declared.toml").write_text('loss = "log(w)"\n[params]\nw = 0.0\n'
                                         '[expect.status]\nreference = "undefined"\n')
    run = pytester.runpytest_inprocess(*PLUGIN, "-rA", "--diffcmp-engines", "fd-central",
                                       "cases")
    run.assert_outcomes(passed=1, failed=1)
    out = run.stdout.str()
    assert "PASSED cases/declared.toml::declared" in out
    assert "FAILED cases/log0.toml::log0" in out
    failure = out[out.index("_ diffcmp case log0 _"):].splitlines()[1]
    assert failure == ("diffcmp: the loss is undefined at 1 point of 'log0', and nothing "
                       'declares it ([expect.status] reference = "undefined" in a case file, '
                       "allow_undefined=True in Python)")


def test_the_plugin_and_diffcmp_import_no_heavy_library() -> None:
    """The plugin is loaded in every pytest session: it must not import NumPy, SymPy, pandas,
    matplotlib, PyTorch or JAX until a case file is collected; nor before it starts a session's
    worker process (the options and the worker's handle), so that the worker starts at once."""
    code = ("import sys, diffcmp, diffcmp.pytest_plugin, diffcmp.config, diffcmp.run.options\n"
            "import diffcmp.run.worker, diffcmp.run.limits\n"
            "print(sorted({'numpy', 'sympy', 'scipy', 'pandas', 'matplotlib', 'torch', 'jax'}\n"
            "             & set(sys.modules)))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert run.stdout.strip() == "[]"
    from diffcmp.cases.toml import MAX_FILE_BYTES
    assert pytest_plugin.MAX_FILE_BYTES == MAX_FILE_BYTES


def test_a_run_of_case_files_only_is_not_distributed(project: pytest.Pytester) -> None:
    def only(*args: str) -> bool:
        config = project.parseconfig(*PLUGIN, *args)
        return pytest_plugin._only_case_files(config)

    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_model.py").write_text("def test_one():\n    pass\n")
    assert only("cases/good.toml") and only("cases") and only("cases/two.py", "cases/good.toml")
    assert not only("tests") and not only(".") and not only("cases", "tests/test_model.py")
    # -n 2 asked for, but nothing for xdist to share out: no worker processes
    run = project.runpytest_inprocess(*PLUGIN, "-n", "2", "-v", "cases/good.toml")
    run.assert_outcomes(passed=1)
    out = run.stdout.str()  # (the temporary folder is named popen-gw0 under xdist's gw0)
    assert "[gw0]" not in out and "workers" not in out and "bringing up nodes" not in out


def test_a_run_of_case_files_only_sets_aside_plugins_it_never_uses(
        project: pytest.Pytester) -> None:
    """Hypothesis's plugin would import Hypothesis for its terminal summary (about 0.8 s): a
    session of case files has no Python test for it."""
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_model.py").write_text("def test_one():\n    pass\n")
    def registered(*args: str) -> list[bool]:
        manager = project.parseconfigure(*PLUGIN, "--collect-only", *args).pluginmanager
        return [manager.has_plugin(name) for name in pytest_plugin.UNUSED_IN_CASE_SESSIONS]

    assert registered("tests") == [True]  # Hypothesis is a dev dependency
    assert registered("cases/good.toml") == [False]
