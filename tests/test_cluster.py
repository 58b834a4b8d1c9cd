"""A run on a Dask cluster (``--scheduler``, :mod:`diffcmp.run.cluster`) gives a serial run's
agreement table, in the files' order, survives a worker killed mid-case (the case is run once more,
or after a second death gets ``error`` rows naming the lost workers), and says how to install
Dask where it is missing.

The cluster is a :class:`distributed.LocalCluster` of 2 worker processes (one thread each) with
nannies, which restart a killed worker; the tests that run cases through it are slow."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from diffcmp.api import Options, run_suite, sweep
from diffcmp.cli import main
from diffcmp.config import resolve
from diffcmp.errors import DiffcmpError

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"
#: A heavier file first, so that the later, small ones come back before it.
FEW = [CASES / "ml_mlp_tanh.toml", CASES / "seed_linear_regression.toml", CASES / "gamma_nll.py",
       CASES / "kink_abs_at_zero.toml", CASES / "edge_where_trap.toml"]
STATUS = ["case", "point", "engine", "derivative", "status"]

#: A Python case file whose first case kills its Dask worker (the parent of the diffcmp worker
#: process that runs it) when SymPy differentiates its ``sin``, as the reference derives it: each
#: time (``ALWAYS``), or the first time only. Each kill appends the killed pid to ``KILLED``; the
#: pause lets the task's record of the running case reach the scheduler first. The second case
#: is plain. (``sin.fdiff`` is wrapped in the worker process that loads the file, and calls the
#: original once no kill is due.)
KILLER = """
    import os, signal, time
    from pathlib import Path
    import sympy as sp
    import diffcmp

    KILLED, ALWAYS = Path({killed!r}), {always!r}
    original = getattr(sp.sin.fdiff, "original", sp.sin.fdiff)

    def fdiff(self, argindex=1):
        if ALWAYS or not KILLED.exists():
            with KILLED.open("a") as log:
                log.write(f"{{os.getppid()}}\\n")
            time.sleep(2)
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(120)
        return original(self, argindex)

    fdiff.original = original
    sp.sin.fdiff = fdiff
    w = sp.Symbol("w", real=True)
    CASES = [diffcmp.Case(name="killer", loss=sp.sin(w) + w**2, params={{"w": 0.5}}),
             diffcmp.Case(name="after_killer", loss=w**3, params={{"w": 2.0}})]
"""


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A LocalCluster of 2 processes, 1 thread each; a task may lose 3 workers (Dask's
    default ``allowed-failures``, set here so that a changed default cannot change the test)."""
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 3}), \
            distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                     dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _same_agreement(ours: pd.DataFrame, serial: pd.DataFrame) -> None:
    """Same rows in the same order, the same statuses; the same numbers (NaN where NaN)."""
    pd.testing.assert_frame_equal(ours[STATUS].reset_index(drop=True),
                                  serial[STATUS].reset_index(drop=True))
    pd.testing.assert_series_equal(ours["error"].reset_index(drop=True),
                                   serial["error"].reset_index(drop=True))


@pytest.mark.slow
def test_a_few_files_on_the_cluster_give_the_serial_table_in_file_order(
        scheduler: str) -> None:
    options = Options(timing=False)
    ours = run_suite(FEW, options, scheduler=scheduler)
    serial = run_suite(FEW, options, jobs=1)
    _same_agreement(ours.agreement, serial.agreement)
    pd.testing.assert_frame_equal(ours.gradients, serial.gradients)
    assert list(dict.fromkeys(ours.agreement["case"])) == [
        "ml_mlp_tanh", "seed_linear_regression", "gamma_nll", "kink_abs_at_zero",
        "edge_where_trap"]
    cluster = ours.meta["cluster"]
    assert cluster["scheduler"] == scheduler
    assert set(cluster["workers"]) == set(ours.agreement["case"])
    assert all(worker.startswith("tcp://127.0.0.1:") for worker in cluster["workers"].values())
    assert "On the Dask cluster of" in ours.to_markdown()


@pytest.mark.slow
def test_a_timed_run_times_each_case_and_names_its_worker(scheduler: str) -> None:
    result = run_suite([CASES / "seed_linear_regression.toml"],
                       Options(engines=("torch",), min_time=0.01), scheduler=scheduler)
    assert result.ok
    grad = result.timing[(result.timing["engine"] == "torch") & (result.timing["phase"] == "grad")]
    assert len(grad) == 1 and grad["median_s"].iloc[0] > 0 and grad["runs"].iloc[0] > 1
    worker = result.meta["cluster"]["workers"]["seed_linear_regression"]
    assert f"`{worker}` 1" in result.to_markdown()


@pytest.mark.slow
def test_a_sweep_sends_its_sizes_to_the_cluster(scheduler: str) -> None:
    path = CASES / "sweeps" / "lse.toml"
    options = Options(engines=("torch", "fd-central"), timing=False)
    ours = sweep(path, [10, 100], options, scheduler=scheduler)
    serial = sweep(path, [10, 100], options)
    _same_agreement(ours.agreement, serial.agreement)
    assert list(ours.meta["cluster"]["workers"]) == ["n = 10", "n = 100"]


def _killed(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_a_case_whose_worker_is_killed_is_run_once_more(scheduler: str, tmp_path: Path) -> None:
    killed = tmp_path / "killed.txt"
    (tmp_path / "a_killer.py").write_text(textwrap.dedent(KILLER).format(killed=str(killed),
                                                                        always=False))
    files = [tmp_path / "a_killer.py", CASES / "seed_linear_regression.toml"]
    options = Options(engines=("sympy", "fd-central"), timing=False)
    ours = run_suite(files, options, scheduler=scheduler)
    [pid] = _killed(killed)
    assert not _alive(pid)  # the first attempt's worker was killed
    serial = run_suite(files, options, jobs=1)  # no kill now: killed.txt exists
    _same_agreement(ours.agreement, serial.agreement)
    rows = ours.agreement.set_index(["case", "engine"])["status"]
    assert rows["killer", "reference"] == rows["killer", "sympy"] == "ok"
    assert ours.ok


@pytest.mark.slow
def test_a_case_that_kills_two_workers_is_an_error_and_the_run_goes_on(
        scheduler: str, tmp_path: Path) -> None:
    killed = tmp_path / "killed.txt"
    (tmp_path / "a_killer.py").write_text(textwrap.dedent(KILLER).format(killed=str(killed),
                                                                        always=True))
    files = [tmp_path / "a_killer.py", CASES / "seed_linear_regression.toml"]
    ours = run_suite(files, Options(engines=("sympy",), timing=False), scheduler=scheduler)
    pids = _killed(killed)
    assert len(pids) == 2 and not any(map(_alive, pids))
    killer = ours.agreement[ours.agreement["case"] == "killer"]
    assert list(killer["engine"]) == ["reference", "sympy"]
    assert set(killer["status"]) == {"error"}
    message = killer["message"].iloc[0]
    assert message.startswith("the case's Dask worker died while running it, 2 times (tcp://")
    assert message.endswith("); it was not run again")
    assert message.count("tcp://127.0.0.1:") == 2
    others = ours.agreement[ours.agreement["case"] != "killer"]
    assert set(others["case"]) == {"after_killer", "seed_linear_regression"}
    assert set(others["status"]) == {"ok"}


@pytest.mark.slow
def test_the_built_in_suite_on_the_cluster_gives_the_serial_table(scheduler: str) -> None:
    options = Options(timing=False)
    ours = run_suite([CASES], options, scheduler=scheduler)
    serial = run_suite([CASES], options, jobs=1)
    _same_agreement(ours.agreement, serial.agreement)
    pd.testing.assert_frame_equal(ours.gradients, serial.gradients)
    assert ours.exit_code == serial.exit_code


def test_without_dask_the_flag_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    code = main(["run", str(CASES / "seed_linear_regression.toml"), "--no-timing", "--quiet",
                 "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: --scheduler needs Dask, which is not installed: pip install 'diffcmp[dask]' "
        "(pip install -e '.[dask]' in a clone)\n")
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_error(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    with pytest.raises(DiffcmpError, match=r"^cannot reach the Dask scheduler at "
                       r"tcp://127\.0\.0\.1:1: "):
        run_suite([CASES / "seed_linear_regression.toml"], Options(timing=False),
                  scheduler="tcp://127.0.0.1:1")


def test_jobs_and_a_scheduler_are_refused_together() -> None:
    with pytest.raises(DiffcmpError, match="give one of them"):
        run_suite([CASES / "seed_linear_regression.toml"], jobs=2, scheduler="tcp://x:1")


def test_the_scheduler_setting_comes_from_the_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.diffcmp]\nscheduler = "tcp://10.0.0.5:8786"\n')
    settings = resolve({}, tmp_path)
    assert settings["scheduler"] == "tcp://10.0.0.5:8786"
    assert resolve({"scheduler": "tcp://h:1"}, tmp_path)["scheduler"] == "tcp://h:1"
    (tmp_path / "pyproject.toml").write_text("[tool.diffcmp]\nscheduler = 8786\n")
    with pytest.raises(DiffcmpError, match=r"scheduler must be a Dask scheduler's address"):
        resolve({}, tmp_path)


def test_importing_diffcmp_imports_no_dask() -> None:
    code = ("import sys, diffcmp, diffcmp.api, diffcmp.cli, diffcmp.run.cluster; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"
