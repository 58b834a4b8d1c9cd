"""Isolation: each case runs in a worker process under a time and a memory limit; a case that
hangs is cut off (``timeout``), one that crashes its process is an ``error``, the run goes on,
and Ctrl-C stops cleanly, saying which cases finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import diffcmp
from diffcmp.api import Options, run_suite
from diffcmp.run import isolation
from diffcmp.run.pool import MAX_DEFAULT_JOBS, default_jobs
from diffcmp.run.progress import Finished, Progress

#: Light engines: a worker that imports only SymPy starts in about a second.
LIGHT = Options(engines=("reference", "sympy"), timing=False)

#: The time limit of the mixed suite: the cases that should finish take about 0.05 s each (80
#: times less); the ones that hang never finish, so any limit stops them.
TIMEOUT_S = 4

OK_TOML = 'loss = "(w*x - y)**2"\n[params]\nw = 1.0\n[data]\nx = 1.0\ny = 2.0\n'

#: Python case files that misbehave while the case is derived (``fdiff``) or loaded.
PYTHON_CASES = {
    "b_segfault.py": """
        import os, signal
        import sympy as sp
        import diffcmp

        class Boom(sp.Function):
            def fdiff(self, argindex=1):
                os.kill(os.getpid(), signal.SIGSEGV)

        w = sp.Symbol("w", real=True)
        CASE = diffcmp.Case(name="segfault", loss=Boom(w) + w**2, params={"w": 1.0})
    """,
    "c_hang.py": """
        import sympy as sp
        import diffcmp

        class Hang(sp.Function):
            def fdiff(self, argindex=1):
                while True:
                    pass

        w = sp.Symbol("w", real=True)
        CASES = [diffcmp.Case(name="hang", loss=Hang(w) + w**2, params={"w": 1.0}),
                 diffcmp.Case(name="after_hang", loss=w**3, params={"w": 2.0})]
    """,
    "d_exit.py": """
        import os
        import sympy as sp
        import diffcmp

        class Exit(sp.Function):
            def fdiff(self, argindex=1):
                os._exit(3)

        w = sp.Symbol("w", real=True)
        CASE = diffcmp.Case(name="exits", loss=Exit(w) + w, params={"w": 1.0})
    """,
    "e_memory.py": """
        import sympy as sp
        import diffcmp

        class Greedy(sp.Function):
            def fdiff(self, argindex=1):
                # one request far over the 1 GiB limit: refused at once (no pages touched, so
                # no race with the time limit)
                return bytearray(2**34)

        w = sp.Symbol("w", real=True)
        CASE = diffcmp.Case(name="greedy", loss=Greedy(w) + w, params={"w": 1.0})
    """,
    "f_load_hangs.py": """
        import time
        time.sleep(10_000)
    """,
    "g_load_crashes.py": """
        import os, signal
        os.kill(os.getpid(), signal.SIGABRT)
    """,
    "h_declared_timeout.py": """
        import sympy as sp
        import diffcmp

        class Hang(sp.Function):
            def fdiff(self, argindex=1):
                while True:
                    pass

        w = sp.Symbol("w", real=True)
        CASE = diffcmp.Case(name="known_to_hang", loss=Hang(w), params={"w": 1.0},
                            expect={"status": {"reference": "timeout", "sympy": "timeout"}})
    """,
}


#: The quick mix of the default run: a crash, a hang (and the case after it, in the same file),
#: a refused allocation. The slow test runs every file.
QUICK = ("b_segfault.py", "c_hang.py", "e_memory.py")


def write_suite(folder: Path, names: tuple[str, ...] = tuple(PYTHON_CASES)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a_ok.toml").write_text(OK_TOML)
    for name in names:
        (folder / name).write_text(textwrap.dedent(PYTHON_CASES[name]))
    (folder / "z_ok.toml").write_text('loss = "sin(w)"\n[params]\nw = 1.0\n')
    return folder


def statuses(result: diffcmp.Result) -> dict[str, set[str]]:
    rows = result.agreement
    return {case: set(rows[rows["case"] == case]["status"]) for case in rows["case"].unique()}


def test_a_crash_a_hang_and_a_refused_allocation_are_rows_and_the_run_goes_on(
        tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "cases", QUICK)
    seen: list[str] = []
    result = run_suite([folder], LIGHT, progress=seen.append, timeout=TIMEOUT_S,
                       memory_limit=2**30, jobs=1)
    assert statuses(result) == {"a_ok": {"ok"}, "segfault": {"error"}, "hang": {"timeout"},
                                "after_hang": {"ok"}, "greedy": {"error"}, "z_ok": {"ok"}}
    assert seen == ["a_ok", "segfault", "hang", "after_hang", "greedy", "z_ok"]
    messages = result.agreement.groupby("case")["message"].first()
    assert messages["segfault"] == ("the case crashed its worker process (killed by signal "
                                    "SIGSEGV)")
    assert messages["hang"] == f"the case did not finish within {TIMEOUT_S} s and was stopped"
    assert "MemoryError" in messages["greedy"]
    assert list(result.agreement[result.agreement["case"] == "segfault"]["engine"]) == [
        "reference", "sympy"]  # every selected engine has its row
    assert set(result.failing()["case"]) == {"segfault", "hang", "greedy"}
    assert result.exit_code == 1


def test_two_workers_give_the_same_rows_in_the_files_order(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "cases", QUICK)
    seen: list[str] = []
    result = run_suite([folder], LIGHT, progress=seen.append, timeout=TIMEOUT_S,
                       memory_limit=2**30, jobs=2)
    order = ["a_ok", "segfault", "hang", "after_hang", "greedy", "z_ok"]
    assert list(result.agreement["case"].unique()) == order  # whichever worker ran each
    assert sorted(seen) == sorted(order)
    assert statuses(result) == {"a_ok": {"ok"}, "segfault": {"error"}, "hang": {"timeout"},
                                "after_hang": {"ok"}, "greedy": {"error"}, "z_ok": {"ok"}}
    assert result.exit_code == 1


def test_without_timing_a_run_uses_a_worker_per_core_and_with_timing_one() -> None:
    assert default_jobs(Options(timing=True)) == 1
    cores = len(os.sched_getaffinity(0))
    assert 1 <= default_jobs(Options(timing=False)) <= max(1, min(cores, MAX_DEFAULT_JOBS))


@pytest.mark.slow
def test_hangs_and_crashes_are_rows_and_the_run_goes_on(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "cases")
    seen: list[str] = []
    finished: list[Finished] = []

    class Listener(Progress):
        def started(self, name: str) -> None:
            seen.append(name)

        def finished(self, done: Finished) -> None:
            finished.append(done)

    result = run_suite([folder], LIGHT, progress=Listener(), timeout=TIMEOUT_S,
                       memory_limit=2**30, jobs=1)
    assert statuses(result) == {
        "a_ok": {"ok"}, "segfault": {"error"}, "hang": {"timeout"}, "after_hang": {"ok"},
        "exits": {"error"}, "greedy": {"error"}, "known_to_hang": {"timeout"}, "z_ok": {"ok"}}
    assert list(result.agreement["case"].unique()) == [
        "a_ok", "segfault", "hang", "after_hang", "exits", "greedy", "known_to_hang", "z_ok"]
    assert seen == ["a_ok", "segfault", "hang", "after_hang", "exits", "greedy",
                    "known_to_hang", "z_ok"]
    # every case and every file that failed to load is heard of as it ends, in order
    assert [(f.name, f.status, f.fails) for f in finished] == [
        ("a_ok", "ok", False), ("segfault", "error", True), ("hang", "timeout", True),
        ("after_hang", "ok", False), ("exits", "error", True), ("greedy", "error", True),
        ("f_load_hangs", "not loaded", True), ("g_load_crashes", "not loaded", True),
        ("known_to_hang", "timeout", False), ("z_ok", "ok", False)]
    assert all(f.seconds >= 0 for f in finished)
    messages = result.agreement.groupby("case")["message"].first()
    assert messages["segfault"] == ("the case crashed its worker process (killed by signal "
                                    "SIGSEGV)")
    assert messages["hang"] == f"the case did not finish within {TIMEOUT_S} s and was stopped"
    assert messages["exits"] == "the case crashed its worker process (exit code 3)"
    assert "MemoryError" in messages["greedy"]
    rows = result.agreement[result.agreement["case"] == "segfault"]
    assert list(rows["engine"]) == ["reference", "sympy"]  # every selected engine has its row
    errors = dict(zip(result.errors["case"], result.errors["message"], strict=True))
    assert errors == {
        "f_load_hangs": f"{folder / 'f_load_hangs.py'}: loading did not finish within "
                        f"{TIMEOUT_S} s "
                        "and was stopped",
        "g_load_crashes": f"{folder / 'g_load_crashes.py'}: loading crashed its worker "
                          "process (killed by signal SIGABRT)"}
    # the declared timeout does not fail the run; the others do
    failing = set(result.failing()["case"])
    assert failing == {"segfault", "hang", "exits", "greedy"}
    assert result.exit_code == 2


def test_a_worker_starts_under_a_memory_limit_smaller_than_its_libraries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 MiB is less than half of what a worker holds once SymPy, NumPy and pandas are loaded
    (about 160 MiB; 1 GiB with PyTorch and JAX): the limit counts from there. BLAS/OpenMP pools
    are capped at one thread unless the user set them (the case's name shows what the worker
    saw)."""
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "threads.py").write_text(textwrap.dedent("""
        import os
        import sympy as sp
        import diffcmp

        seen = "_".join(os.environ.get(name, "unset") for name in
                        ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"))
        w = sp.Symbol("w", real=True)
        CASE = diffcmp.Case(name=f"threads_{seen}", loss=(w - 2)**2, params={"w": 1.0})
    """))
    result = run_suite([tmp_path], LIGHT, memory_limit=64 * 2**20)
    assert result.errors.empty
    assert set(result.agreement["case"]) == {"threads_1_1_3"}
    assert set(result.agreement["status"]) == {"ok"}
    limit = isolation.default_memory_limit()
    assert limit is None or limit >= isolation.MIN_MEMORY


def test_the_worker_environment_caps_thread_pools_unless_set() -> None:
    env = isolation.worker_environment({"PATH": "/bin", "OMP_NUM_THREADS": "4"})
    assert env["OMP_NUM_THREADS"] == "4"
    assert {name: env[name] for name in isolation.THREAD_CAPS if name != "OMP_NUM_THREADS"} \
        == dict.fromkeys(set(isolation.THREAD_CAPS) - {"OMP_NUM_THREADS"}, "1")
    assert env["PATH"] == "/bin"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(Path(diffcmp.__file__).parents[1])


def test_a_python_case_file_is_loaded_in_the_worker(tmp_path: Path) -> None:
    marker = tmp_path / "loaded-here"
    (tmp_path / "case.py").write_text(textwrap.dedent(f"""
        import os
        import sympy as sp
        import diffcmp

        with open({str(marker)!r}, "w") as f:
            f.write(str(os.getpid()))
        w = sp.Symbol("w", real=True)
        CASE = diffcmp.Case(name="py", loss=w**2, params={{"w": 1.0}})
    """))
    result = run_suite([tmp_path], LIGHT)
    assert set(result.agreement["status"]) == {"ok"}
    assert int(marker.read_text()) != os.getpid()


def test_a_bad_timeout_is_an_error() -> None:
    with pytest.raises(diffcmp.DiffcmpError, match="positive number of seconds"):
        run_suite(["cases"], LIGHT, timeout=0)


def test_the_library_runs_in_process_without_a_worker() -> None:
    result = diffcmp.compare("w**2", {"w": 3.0}, engines=["sympy"], timing=False)
    assert set(result.agreement["status"]) == {"ok"}


def test_run_cases_tells_progress_each_case_start_and_end() -> None:
    heard: list[tuple[str, str]] = []

    class Listener(Progress):
        def started(self, name: str) -> None:
            heard.append(("started", name))

        def finished(self, done: Finished) -> None:
            heard.append((done.name, f"{done.status}, fails {done.fails}"))

    cases = [diffcmp.Case(name="fine", loss="w**2", params={"w": 3.0}),
             diffcmp.Case(name="off", loss="w**3", params={"w": 1.3},
                          tolerance={"fd-central": 1e-30}),
             diffcmp.Case(name="known", loss="w**3", params={"w": 1.3},
                          tolerance={"fd-central": 1e-30},
                          expect={"status": {"fd-central": "mismatch"}})]
    diffcmp.run_cases(cases, Options(engines=("fd-central",), timing=False), progress=Listener())
    assert heard == [("started", "fine"), ("fine", "ok, fails False"), ("started", "off"),
                     ("off", "mismatch, fails True"), ("started", "known"),
                     ("known", "mismatch, fails False")]
    seen: list[str] = []  # a plain callable still hears each start
    diffcmp.run_cases(cases[:1], Options(engines=("fd-central",), timing=False),
                      progress=seen.append)
    assert seen == ["fine"]


def test_failed_result_gives_every_engine_a_row() -> None:
    result = isolation.failed_result("c", "c.toml", ["reference", "torch"], "timeout", "slow",
                                     declared={"torch": "timeout", "jax": "ok"})
    assert [(r["engine"], r["status"], r["message"]) for r in result.agreement] == [
        ("reference", "timeout", "slow"), ("torch", "timeout", "slow")]
    # jax did not run: its declaration is ignored (it holds, its actual says why)
    assert [(e["item"], e["actual"], e["holds"]) for e in result.expectations] == [
        ("torch", "timeout", True), ("jax", "not run", True)]


# --- Ctrl-C and kill --------------------------------------------------------------------------


def _run_and_signal(folder: Path, out: Path, sig: int, jobs: int = 1,
                    hanging: tuple[str, ...] = ("started",)) -> tuple[int, str, str]:
    """Start ``diffcmp run`` on ``folder`` with ``jobs`` workers, wait for the hanging cases
    (each writes its pid to a file named in ``hanging``), then send ``sig``."""
    main = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from diffcmp.cli import main; sys.exit(main())")  # SIGINT may be ignored here
    process = subprocess.Popen(
        [sys.executable, "-c", main, "run", str(folder), "--out", str(out), "--no-timing",
         "--engines", "sympy", "--timeout", "120", "--jobs", str(jobs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=folder.parent)
    files = [folder / name for name in hanging]
    deadline = time.monotonic() + 300  # waits for an event: generous, never a race
    while time.monotonic() < deadline and not all(f.exists() and f.read_text() for f in files):
        time.sleep(0.1)
    assert all(f.exists() for f in files), "a hanging case never started"
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=30)
    return process.returncode, stdout, stderr


def _interruptible_suite(folder: Path) -> Path:
    folder.mkdir()
    (folder / "a_ok.toml").write_text(OK_TOML)
    (folder / "b_ok.toml").write_text('loss = "sin(w)"\n[params]\nw = 1.0\n')
    _hanging_case(folder / "c_hang.py", folder / "started")
    return folder


def _hanging_case(path: Path, started: Path) -> None:
    """A Python case file whose case writes its worker's pid to ``started``, then hangs."""
    path.write_text(textwrap.dedent(f"""
        import os
        import sympy as sp
        import diffcmp

        class Hang(sp.Function):
            def fdiff(self, argindex=1):
                with open({str(started)!r}, "w") as file:
                    file.write(str(os.getpid()))
                while True:
                    pass

        w = sp.Symbol("w", real=True)
        CASE = diffcmp.Case(name="hang", loss=Hang(w), params={{"w": 1.0}})
    """))


@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM,
                                                              marks=pytest.mark.slow)],
                         ids=["ctrl-c", "kill"])
def test_an_interrupt_stops_cleanly_and_says_what_finished(tmp_path: Path, sig: int) -> None:
    folder = _interruptible_suite(tmp_path / "cases")
    out = tmp_path / "report"
    code, stdout, stderr = _run_and_signal(folder, out, sig)
    assert stdout == ""
    assert code == 130
    assert stderr.strip().endswith("error: interrupted; 2 case(s) had finished: a_ok, b_ok; "
                                   "no report was written")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases"]  # no staging folder
    worker = int((folder / "started").read_text())
    with pytest.raises(ProcessLookupError):  # no worker left behind
        os.kill(worker, 0)


def test_an_interrupt_stops_every_worker_of_a_parallel_run(tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("a", "b"):
        _hanging_case(folder / f"{name}_hang.py", folder / f"started_{name}")
    out = tmp_path / "report"
    code, stdout, stderr = _run_and_signal(folder, out, signal.SIGINT, jobs=2,
                                           hanging=("started_a", "started_b"))
    assert (code, stdout) == (130, "")
    assert stderr.strip().endswith("error: interrupted; no case had finished; "
                                   "no report was written")
    assert not out.exists()
    for name in ("a", "b"):
        with pytest.raises(ProcessLookupError):  # no worker left behind
            os.kill(int((folder / f"started_{name}").read_text()), 0)
