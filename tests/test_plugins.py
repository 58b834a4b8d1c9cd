"""Engine plugins (issue 20): a package adds an engine with one entry point in the group
``diffcmp.engines``. The plugins here are two tiny packages under ``tests/plugins/``, each with
its pyproject.toml and the ``*.dist-info`` folder an installation would write, so that putting
the package's folder on ``sys.path`` (or ``PYTHONPATH``, for a ``diffcmp`` subprocess) is
installing it: ``diffcmp-demo-engine`` (``demo``: PyTorch over an op table of its own, the
README's example) and ``diffcmp-bad-engines`` (``demo-wrong``: the demo with every gradient 1.5
times too large; ``demo-abort`` aborts its process as it prepares a case, ``demo-abort-start``
as a worker starts it; ``demo-not-engine`` is not an ``Engine``;
``demo-unfinished`` lacks two methods; ``demo-missing`` names a module that does not exist;
``torch`` a built-in engine's name)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import diffcmp
from diffcmp import cli, registry
from diffcmp.api import run_cases, run_suite
from diffcmp.cases import load_cases
from diffcmp.config import check_engines, resolve
from diffcmp.ops import torch as torch_ops
from diffcmp.run.options import Options

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "plugins" / "diffcmp_demo_engine"
BAD = ROOT / "tests" / "plugins" / "diffcmp_bad_engines"
CASES = ROOT / "cases"
#: Built-in cases whose ops are all in the demo's table (the worked example first).
DEMO_CASES = ("seed_linear_regression", "testfn_booth", "testfn_rosenbrock", "ml_mlp_tanh",
              "ml_linear_regression_mse")
BROKEN = {"demo-missing": "ModuleNotFoundError: No module named 'diffcmp_no_such_module'",
          "demo-not-engine": "not a subclass of diffcmp.Engine",
          "demo-unfinished": "diffcmp_bad_engines:Unfinished does not implement to_numpy, "
                             "value_and_grad",
          "torch": "a built-in engine has that name"}


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Both plugin packages 'installed' (on sys.path), the registry reading them afresh."""
    monkeypatch.syspath_prepend(str(DEMO))
    monkeypatch.syspath_prepend(str(BAD))
    registry.refresh_plugins()
    yield
    registry.refresh_plugins()


def _environment(*paths: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *map(str, paths)]))


def _cases(*names: str) -> list[diffcmp.Case]:
    return [case for name in names for case in load_cases(CASES / f"{name}.toml")]


def _gradient_rows(result: diffcmp.Result, engine: str) -> pd.DataFrame:
    agreement = result.agreement
    return agreement[(agreement["engine"] == engine) & (agreement["derivative"] == "gradient")]


def test_the_registry_lists_plugins_after_the_built_in_engines(plugins: None) -> None:
    assert registry.engine_names() == (*registry.ENGINE_NAMES, "demo", "demo-abort",
                                       "demo-abort-start", "demo-wrong")
    info = registry.engine_info("demo")
    assert (info.origin, info.tolerance) == ("plugin diffcmp-demo-engine 0.1.0", 1e-10)
    assert info.summary.startswith("the demo plugin: the loss over its own PyTorch op table")
    assert registry.engine_info("torch").origin == registry.BUILT_IN
    assert registry.engine_class("demo").__name__ == "DemoEngine"
    assert registry.engine_class("torch").__name__ == "TorchEngine"  # not the plugin's 'torch'
    problems = registry.plugin_problems()
    assert len(problems) == 4
    for problem, (name, reason) in zip(problems, BROKEN.items(), strict=True):
        assert "\n" not in problem
        assert f"plugin engine '{name}' not loaded (entry point {name} = " in problem
        assert "of package diffcmp-bad-engines 0.2.0" in problem
        assert reason in problem
    with pytest.raises(diffcmp.DiffcmpError, match=r"demo-missing.*ModuleNotFoundError"):
        registry.engine_info("demo-missing")
    assert check_engines("demo,torch", "--engines") == ["demo", "torch"]
    with pytest.raises(diffcmp.DiffcmpError, match=r"not a subclass of diffcmp\.Engine"):
        check_engines(["demo-not-engine"], "[tool.diffcmp] engines")
    with pytest.raises(diffcmp.DiffcmpError, match="unknown engine 'dmeo'; did you mean 'demo'"):
        check_engines(["dmeo"], "--engines")


def test_pyproject_engines_and_the_default_include_plugins(plugins: None, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.diffcmp]\nengines = ["demo", "jax"]\n'
                                             'tolerance = { demo-wrong = 0.6 }\n')
    settings = resolve({}, start=tmp_path)
    assert settings["engines"] == ["demo", "jax"]
    assert settings["tolerance"] == {"demo-wrong": 0.6}
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert resolve({}, start=tmp_path)["engines"] == list(registry.default_engine_names())
    assert "demo" in Options().engines


def test_a_case_file_may_name_a_plugin_engine(plugins: None, tmp_path: Path) -> None:
    path = tmp_path / "case.toml"
    path.write_text('loss = "w**2"\n[params]\nw = 3.0\n[tolerance]\ndemo = 1e-9\n'
                    '[expect.status]\ndemo-wrong = "mismatch"\n')
    (case,) = load_cases(path)
    assert case.tolerance == {"demo": 1e-9}
    result = run_cases([case], Options(engines=("demo", "demo-wrong"), timing=False))
    rows = _gradient_rows(result, "demo").iloc[0]
    assert (rows["status"], rows["tolerance"]) == ("ok", 1e-9)
    assert _gradient_rows(result, "demo-wrong")["status"].tolist() == ["mismatch"]
    assert result.exit_code == 0  # the mismatch is declared
    path.write_text('loss = "w**2"\n[params]\nw = 3.0\n[expect.status]\ndmeo = "ok"\n')
    with pytest.raises(diffcmp.CaseError, match="unknown engine 'dmeo'"):
        load_cases(path)


def test_importing_diffcmp_imports_no_plugin() -> None:
    """Names come from the entry points alone; a plugin's module is imported when its engine
    is first needed (its summary and tolerance are on its class)."""
    code = ("import sys, diffcmp, diffcmp.cli, diffcmp.registry as r\n"
            "print('diffcmp_demo_engine' in sys.modules, r.is_engine_name('demo'),\n"
            "      'diffcmp_demo_engine' in sys.modules, 'demo' in r.engine_names(),\n"
            "      'diffcmp_demo_engine' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], env=_environment(DEMO),
                         capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.split() == ["False", "True", "False", "True", "True"]


def test_the_demo_plugin_agrees_on_built_in_cases(plugins: None) -> None:
    """Its gradient, and at order 2 its Hessian and Hessian-vector product (the optional
    methods of an OpTableEngine), on every point of every case."""
    result = run_cases(_cases(*DEMO_CASES), Options(engines=("demo",), timing=False, order=2))
    rows = _gradient_rows(result, "demo")
    assert set(rows["case"]) == set(DEMO_CASES)
    assert (rows["status"] == "ok").all(), rows[["case", "status", "message"]]
    assert len(rows) >= 10  # the cases' own points and their sampled ones
    agreement = result.agreement
    second = agreement[(agreement["engine"] == "demo") & (agreement["derivative"] != "gradient")]
    assert sorted(set(second["derivative"])) == ["hessian", "hvp"]
    assert len(second) == 2 * len(rows)
    assert (second["status"] == "ok").all(), second[["case", "derivative", "status", "message"]]
    hessian = result.hessians[(result.hessians["engine"] == "demo")
                              & (result.hessians["case"] == "testfn_rosenbrock")
                              & (result.hessians["point"] == 0) & (result.hessians["col"] != "v")]
    np.testing.assert_allclose(hessian["value"], [1330.0, 480.0, 480.0, 200.0], rtol=1e-15)
    np.testing.assert_allclose(hessian["value"], hessian["reference"].astype(float), rtol=1e-15)
    seed = result.gradients[(result.gradients["engine"] == "demo")
                            & (result.gradients["case"] == "seed_linear_regression")]
    assert seed["value"].tolist() == [-2.0]
    assert seed["reference_exact"].astype(float).tolist() == [-2.0]
    losses = rows.set_index("case")["loss"]
    assert losses["seed_linear_regression"] == 1.0
    assert result.meta["engines"]["demo"]["summary"].endswith("(plugin diffcmp-demo-engine 0.1.0)")
    assert result.exit_code == 0


def test_a_wrong_plugin_is_a_mismatch_on_every_case(plugins: None) -> None:
    result = run_cases(_cases(*DEMO_CASES), Options(engines=("demo-wrong",), timing=False))
    rows = _gradient_rows(result, "demo-wrong")
    assert set(rows["case"]) == set(DEMO_CASES)
    assert (rows["status"] == "mismatch").all(), rows[["case", "status", "message"]]
    seed = result.gradients[(result.gradients["engine"] == "demo-wrong")
                            & (result.gradients["case"] == "seed_linear_regression")]
    assert seed["value"].tolist() == [-3.0]
    assert result.exit_code == 1


def test_a_plugin_gradient_equals_torch_at_random_points(plugins: None) -> None:
    """Seeded: a SymPy loss (the translated path) and a language loss at random points, the
    demo's gradient equal to PyTorch autograd's own, the wrong one's 1.5 times it."""
    import sympy as sp

    rng = np.random.default_rng(20)
    w, x = sp.symbols("w x", real=True)
    for _ in range(3):
        wv, xv = (float(v) for v in rng.uniform(-2, 2, size=2))
        result = diffcmp.compare(sp.exp(w * x) + sp.sin(w) ** 2, params={"w": wv},
                                 data={"x": xv}, engines=["demo", "demo-wrong"], timing=False)
        leaf = torch.tensor(wv, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(torch.exp(leaf * xv) + torch.sin(leaf) ** 2, leaf)
        values = result.gradients.set_index("engine")["value"]
        assert values["demo"] == pytest.approx(float(grad), rel=1e-14)
        assert values["demo-wrong"] == pytest.approx(1.5 * float(grad), rel=1e-14)
        assert _gradient_rows(result, "demo")["status"].tolist() == ["ok"]
    point = rng.normal(size=(3, 2))
    result = diffcmp.compare("sum(tanh(A @ v) ** 2)", params={"v": point[0].tolist()},
                             data={"A": point[1:].tolist()}, engines=["demo"], timing=False)
    v = torch.tensor(point[0], requires_grad=True)
    (expected,) = torch.autograd.grad(torch.sum(torch.tanh(torch.tensor(point[1:]) @ v) ** 2), v)
    np.testing.assert_allclose(result.gradients["value"][result.gradients["engine"] == "demo"],
                               expected.numpy(), rtol=1e-14)


def test_an_op_table_engine_offers_the_second_order_it_implements(plugins: None) -> None:
    demo = registry.engine_class("demo")

    class GradientOnly(demo):
        hessian = diffcmp.OpTableEngine.hessian
        hvp = diffcmp.OpTableEngine.hvp

    class ProductOnly(demo):
        hessian = diffcmp.OpTableEngine.hessian

    assert demo().offers == {"gradient", "hessian", "hvp"}
    assert GradientOnly().offers == {"gradient"}
    assert ProductOnly().offers == {"gradient", "hvp"}


def test_an_op_missing_from_the_table_is_unsupported_naming_it(plugins: None) -> None:
    result = run_cases(_cases("ml_logistic_regression"), Options(engines=("demo",),
                                                                 timing=False))
    rows = _gradient_rows(result, "demo")
    assert rows["status"].tolist() == ["unsupported"] * len(rows)
    assert rows["message"].iloc[0] == ("op 'softplus' is not in the op table of DemoEngine "
                                       "(DemoEngine.OPS)")
    assert result.exit_code == 0


def test_the_op_table_checker_passes_good_tables_and_catches_a_wrong_row() -> None:
    sys.path.insert(0, str(DEMO))
    try:
        from diffcmp_demo_engine import OPS
    finally:
        sys.path.remove(str(DEMO))
    array, to_numpy = torch.from_numpy, lambda t: t.detach().numpy()
    assert diffcmp.check_op_table(OPS, array, to_numpy) == []
    # the built-in table passes too (torch's polygamma is 1e-10 off: tests/test_ops_spec.py)
    assert diffcmp.check_op_table(torch_ops.OPS, array, to_numpy, rtol=1e-9,
                                  complete=True) == []
    wrong = {**OPS, "exp": torch.log, "add": lambda a: -a, "neg": torch.sub,
             "sigmoid": lambda x: torch.sigmoid(x) * 2, "sum": lambda a, axis: torch.sum(a),
             "tanhh": torch.tanh}
    problems = diffcmp.check_op_table(wrong, array, to_numpy)
    assert problems[2].startswith("neg: fails at (0.3,): TypeError: ")
    assert problems[:2] + problems[3:] == [
        "tanhh: not an op of the spec (diffcmp.ops.spec.SPEC)",
        "add: takes 1 argument(s), the spec's row 2",
        "exp: gives -1.2039728043259361 at (0.3,), the spec 1.3498588075760032",
        "sigmoid: gives 1.148885033623318 at (0.3,), the spec 0.574442516811659",
        "sum: gives shape () at ([[0.5, -1.0, 0.3], [2.0, 0.25, -0.7]], 1), the spec (2,)"]
    missing = diffcmp.check_op_table(OPS, array, to_numpy, complete=True)
    assert "softplus: missing" in missing and "exp: missing" not in missing


# --- the command line and worker processes --------------------------------------------------


def test_list_engines_names_each_engine_and_where_it_comes_from(
        plugins: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", "--engines"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 3 * len(registry.engine_names())
    assert lines[0] == "reference  (built in)  tolerance 0"
    at = lines.index("demo  (plugin diffcmp-demo-engine 0.1.0)  tolerance 1e-10")
    assert lines[at + 1] == ("    the demo plugin: the loss over its own PyTorch op table, "
                             "torch.func, float64")
    assert lines[at + 2] == "    tolerance: reverse mode is exact up to float64 rounding"
    assert lines[lines.index("demo-wrong  (plugin diffcmp-bad-engines 0.2.0)  tolerance 1e-10")
                 + 1] == "    the demo plugin, every gradient 1.5 times too large"
    warnings = err.splitlines()
    assert len(warnings) == 4 and all(w.startswith("warning: plugin engine '") for w in warnings)


def test_a_run_isolates_plugins_found_on_sys_path_only(plugins: None) -> None:
    """The worker process finds a plugin the parent found on a path added at run time."""
    assert "tests/plugins" not in os.environ.get("PYTHONPATH", "")
    result = run_suite([CASES / "seed_linear_regression.toml"],
                       Options(engines=("demo",), timing=False), jobs=1)
    rows = _gradient_rows(result, "demo")
    assert rows[["status", "loss"]].values.tolist() == [["ok", 1.0]]


@pytest.mark.slow  # a diffcmp run in a subprocess: 6 s
def test_diffcmp_run_with_plugins_installed(tmp_path: Path) -> None:
    """``diffcmp run`` as a user runs it, both packages on PYTHONPATH: the broken entry points
    are one line each on stderr, the rest runs, and the exit status is the run's (0)."""
    run = subprocess.run(
        [sys.executable, "-m", "diffcmp", "run", str(CASES / "seed_linear_regression.toml"),
         str(CASES / "testfn_booth.toml"), "--engines", "demo,torch", "--no-timing", "--out",
         str(tmp_path / "out"), "--quiet"],
        env=_environment(DEMO, BAD), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4
    for warning, name in zip(warnings, BROKEN, strict=True):
        assert f"entry point {name} = " in warning and "diffcmp-bad-engines 0.2.0" in warning
    gradients = pd.read_csv(tmp_path / "out" / "gradients.csv")
    seed = gradients[gradients["case"] == "seed_linear_regression"]
    assert seed.set_index("engine")["value"].to_dict() == {"reference": -2.0, "demo": -2.0,
                                                            "torch": -2.0}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "(plugin diffcmp-demo-engine 0.1.0)" in report


@pytest.mark.slow  # a diffcmp run in a subprocess: 15 s
def test_a_plugin_that_aborts_gives_error_rows_and_the_run_completes(tmp_path: Path) -> None:
    """The case runs again without the engine that took its worker down; after two such cases
    the engine is left out of the run; one that aborts as a worker starts is left out at once.
    The other engines keep their verdicts throughout. One worker (``--jobs 1``): the cases
    crash in the files' order."""
    names = ("seed_linear_regression", "testfn_booth", "testfn_rosenbrock")
    run = subprocess.run(
        [sys.executable, "-m", "diffcmp", "run", *(str(CASES / f"{n}.toml") for n in names),
         "--engines", "demo,demo-abort,demo-abort-start", "--no-timing", "--jobs", "1",
         "--out", str(tmp_path / "out"), "--quiet"],
        env=_environment(DEMO, BAD), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    agreement = pd.read_csv(tmp_path / "out" / "agreement.csv")
    agreement = agreement[agreement["derivative"] == "gradient"]
    assert sorted(agreement["case"].unique()) == sorted(names)
    status = agreement.groupby("engine")["status"].agg(set).to_dict()
    assert status == {"reference": {"ok"}, "demo": {"ok"}, "demo-abort": {"error"},
                      "demo-abort-start": {"error"}}
    aborts = agreement[agreement["engine"] == "demo-abort"].set_index("case")["message"]
    crashed = "the engine crashed its worker process (killed by signal SIGABRT)"
    assert aborts["seed_linear_regression"] == f"{crashed} on this case; the case ran again " \
                                               "without it"
    assert aborts["testfn_booth"] == aborts["seed_linear_regression"]
    assert aborts["testfn_rosenbrock"] == (
        f"not run: {crashed} on 2 cases (seed_linear_regression, testfn_booth), so it is left "
        "out of the rest of the run")
    starts = agreement[agreement["engine"] == "demo-abort-start"]
    assert set(starts["message"]) == {f"not run: {crashed} as the worker process started, so "
                                      "it is left out of the run"}
    seed = pd.read_csv(tmp_path / "out" / "gradients.csv").query(
        "case == 'seed_linear_regression' and engine == 'demo'")
    assert seed["value"].tolist() == [-2.0]  # the worked example, from the surviving engine
    assert (tmp_path / "out" / "report.md").exists()


def test_the_readme_example_is_the_demo_plugin() -> None:
    readme = (ROOT / "README.md").read_text()
    module = (DEMO / "diffcmp_demo_engine.py").read_text()
    assert f"```python\n{module}```" in readme
    assert ('[project.entry-points."diffcmp.engines"]\ndemo = "diffcmp_demo_engine:DemoEngine"\n'
            in (DEMO / "pyproject.toml").read_text())
    assert (DEMO / "diffcmp_demo_engine-0.1.0.dist-info" / "entry_points.txt").read_text() == (
        "[diffcmp.engines]\ndemo = diffcmp_demo_engine:DemoEngine\n")


@pytest.mark.slow
def test_a_plugin_installed_into_a_venv_joins_diffcmp_run(tmp_path: Path) -> None:
    """The real thing: pip installs the demo package into a fresh venv (which sees this
    environment's packages, and this diffcmp through PYTHONPATH), and ``diffcmp run`` runs its
    engine with no change to diffcmp, by default beside the built-in ones."""
    shutil.copytree(DEMO, tmp_path / "src", ignore=shutil.ignore_patterns("*.dist-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", str(tmp_path / "src")], check=True, timeout=300,
                   capture_output=True)
    env = _environment()
    listed = subprocess.run([python, "-m", "diffcmp", "list", "--engines"], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    assert "demo  (plugin diffcmp-demo-engine 0.1.0)  tolerance 1e-10" in listed.stdout
    assert listed.stderr == ""
    run = subprocess.run([python, "-m", "diffcmp", "run", str(CASES / "testfn_booth.toml"),
                          "--no-timing", "--out", str(tmp_path / "out"), "--quiet"], env=env,
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    agreement = pd.read_csv(tmp_path / "out" / "agreement.csv")
    rows = agreement[(agreement["engine"] == "demo") & (agreement["derivative"] == "gradient")]
    assert len(rows) >= 2 and (rows["status"] == "ok").all()
    assert list(dict.fromkeys(agreement["engine"])) == [*registry.DEFAULT_ENGINES, "demo"]
