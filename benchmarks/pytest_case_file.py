"""How long does ``pytest cases/seed_linear_regression.toml`` take, start to exit?

Runs the command the README shows (``python -m pytest -p no:cacheprovider CASE``, this checkout
first on ``PYTHONPATH``) ``--runs`` times in fresh processes and prints each run's wall time and
CPU time (pytest's process and the case's worker process together), then the medians. Target:
a median under 5 s of wall time on a 2-core machine.

Where the time goes (on a 2-core machine): Python and pytest start (about 0.3 s); the plugin
starts the worker process as pytest configures, before it imports anything heavy, and the
worker imports diffcmp, SymPy, PyTorch (about 1.1 s) and JAX (about 1 s, ml_dtypes' extension
alone 0.6 s) while pytest collects; the case itself runs in about 0.1 s; pytest's exit
collects garbage five times (its check for unraisable exceptions), which costs in proportion
to what the pytest process has imported.

Run from the repository root: ``python benchmarks/pytest_case_file.py [--runs N] [CASE]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 5.0


def run_once(case: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, children included) of one pytest run."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", case],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        sys.exit(f"pytest failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default="cases/seed_linear_regression.toml")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    walls, cpus = [], []
    for index in range(args.runs):
        wall, cpu = run_once(args.case)
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {index + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    load = os.getloadavg()[0]
    median = statistics.median(walls)
    print(f"median: {median:.2f} s wall, {statistics.median(cpus):.2f} s CPU "
          f"(target: under {TARGET_S:g} s wall; {os.cpu_count()} cores, load {load:.1f})")


if __name__ == "__main__":
    main()
