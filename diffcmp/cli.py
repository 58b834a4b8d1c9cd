"""The ``diffcmp`` command line.

Errors the library raises become ``error: ...`` on stderr and an exit code here, in one place:
0 every engine agrees, 1 a disagreement or failed expectation, 2 bad usage or a case file that
could not be loaded. ``diffcmp diff`` exits 1 when an engine's agreement got worse.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .api import Options, run_suite, sweep
from .cases import discover, load_cases
from .config import check_engines, resolve
from .engines import devices
from .errors import DiffcmpError
from .explain import explain
from .gradbench import command as gradbench_command
from .precision import add_precision_arguments
from .registry import engine_info, engine_names, plugin_problems
from .report.folder import LATEST, check_out, point_latest, write_new_report, write_report
from .report.sweep import size_line, sweep_summary, write_sweep_report
from .report.verdict import verdict
from .result import Result
from .results.rundiff import MIN_CHANGE, compare_results, load_results
from .run.isolation import DEFAULT_TIMEOUT_S, Interrupted
from .run.options import MAX_HESSIAN_N
from .run.sweep import SizeRun
from .run.timing import MIN_TIME_S
from .terminal import CaseProgress, is_tty

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: Where ``diffcmp run`` writes without ``--out``: a new timestamped folder per run.
REPORTS = Path("reports")


def _engines(text: str) -> tuple[str, ...]:
    try:
        return tuple(check_engines(text, "--engines"))
    except DiffcmpError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--engines: ")) from None


def _number(kind: type, accept: Callable[[float], bool], rule: str) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)``, refused unless ``accept(value)``, saying ``rule``."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "whole number" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"not a {what}: '{text}'") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(rule)
        return value

    return parse


_positive = _number(float, lambda v: 0 < v < float("inf"), "must be a positive number of seconds")
_threads = _number(int, lambda v: v >= 1, "must be 1 or more")
_fraction = _number(float, lambda v: 0 <= v < float("inf"), "must be zero or more (0.05 is 5%)")


def _sizes(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: '{text}'") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="diffcmp", description="Compare SymPy, PyTorch, JAX and finite-difference gradients "
        "against a high-precision reference.")
    parser.add_argument("--version", action="version", version=f"diffcmp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run cases and write a report", description="Run cases "
                         "and write a report. Defaults come from [tool.diffcmp] in the nearest "
                         "pyproject.toml (paths, engines, tolerance, timeout, min_time, out, "
                         "scheduler); "
                         "flags override it, and the report says where each setting came from.")
    run.add_argument("paths", nargs="*", metavar="PATH", help="case files or folders of them "
                     "(default: [tool.diffcmp] paths)")
    run.add_argument("--out", metavar="DIR", help="report folder (default: [tool.diffcmp] out, "
                     "else a new timestamped folder under reports/, with reports/latest pointing "
                     "to it)")
    run.add_argument("--force", action="store_true", help="replace an earlier diffcmp report "
                     "in --out (a folder holding anything else is never touched)")
    run.add_argument("--timeout", type=_positive, default=None, metavar="SECONDS",
                     help="stop a case that takes longer, loading to timing, and report it as "
                     f"'timeout' (default {DEFAULT_TIMEOUT_S:g}); every case runs in a worker "
                     "process, so a case that crashes it is reported as 'error'")
    run.add_argument("--engines", type=_engines, default=None, metavar="A,B",
                     help="engines to run (default: the built-in ones but the optional "
                     "frameworks, which run when named here, and every plugin engine "
                     "installed; see 'diffcmp list --engines'); the reference always runs")
    run.add_argument("--tag", action="append", default=[], metavar="TAG",
                     help="only cases with this tag (repeatable)")
    run.add_argument("--no-timing", action="store_true", help="agreement only")
    _second_order_arguments(run)
    add_precision_arguments(run)
    run.add_argument("--min-time", type=_positive, default=None, metavar="SECONDS",
                     help=f"minimum measured time per phase (default {MIN_TIME_S})")
    run.add_argument("--threads", type=_threads, default=1, metavar="N",
                     help="PyTorch intra-op threads (default 1; the report says which)")
    run.add_argument("--jobs", type=_threads, default=None, metavar="N",
                     help="cases run at once, each in its own worker (default: 1 when timing, "
                     "else one per core)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run the case files on the Dask cluster of this scheduler "
                     "(tcp://HOST:8786; default: [tool.diffcmp] scheduler), each case still in "
                     "its own process on its worker; needs pip install 'diffcmp[dask]'")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors (and no "
                     "progress bar; the bar is also off when stderr is not a terminal)")

    sweeping = sub.add_parser(
        "sweep", help="run one case at each size of its [sweep]: time against size per engine",
        description="Run every engine at each size of a case's [sweep] (each size in a worker "
        "process), check agreement at every size, and write sweep.md, sweep.csv and log-log "
        "plots of time against size with each engine's fitted exponent. Engines, timeout and "
        "min_time default to [tool.diffcmp].")
    sweeping.add_argument("case", metavar="CASE", help="a case file with a [sweep] table")
    sweeping.add_argument("--sizes", type=_sizes, default=None, metavar="N,N,...",
                          help="sizes to run (default: the case's [sweep] sizes)")
    sweeping.add_argument("--out", metavar="DIR", help="report folder (default: a new "
                          "reports/sweep-YYYYmmdd-HHMMSS)")
    sweeping.add_argument("--force", action="store_true", help="replace an earlier diffcmp "
                          "report in --out")
    sweeping.add_argument("--engines", type=_engines, default=None, metavar="A,B",
                          help="engines to run (the reference always runs)")
    sweeping.add_argument("--no-timing", action="store_true", help="agreement only")
    _second_order_arguments(sweeping)
    add_precision_arguments(sweeping)
    sweeping.add_argument("--min-time", type=_positive, default=None, metavar="SECONDS",
                          help=f"minimum measured time per phase (default {MIN_TIME_S})")
    sweeping.add_argument("--timeout", type=_positive, default=None, metavar="SECONDS",
                          help="stop a size that takes longer and report it as 'timeout' "
                          f"(default {DEFAULT_TIMEOUT_S:g}); the sweep goes on")
    sweeping.add_argument("--threads", type=_threads, default=1, metavar="N",
                          help="PyTorch intra-op threads (default 1)")
    sweeping.add_argument("--scheduler", default=None, metavar="ADDRESS",
                          help="run each size on the Dask cluster of this scheduler (default: "
                          "[tool.diffcmp] scheduler)")
    sweeping.add_argument("--quiet", action="store_true", help="print nothing but errors")

    explaining = sub.add_parser(
        "explain", help="walk one case's backward pass node by node against PyTorch")
    explaining.add_argument("case", metavar="CASE", help="a case file")
    explaining.add_argument("--format", choices=("text", "mermaid"), default="text",
                            help="text: the three steps (default); mermaid: a flowchart of the "
                            "graph, with values and local gradients, for any markdown viewer")
    explaining.add_argument("--point", type=int, default=0, metavar="N",
                            help="which point: 0 is the case's own (default), 1.. sampled")

    listing = sub.add_parser("list", help="list cases with tags, parameter counts, descriptions; "
                             "--engines: the engines, built in and plugins")
    listing.add_argument("paths", nargs="*", default=["cases"], metavar="PATH")
    listing.add_argument("--engines", action="store_true", help="list the engines instead: "
                         "name, where it comes from, what it computes, its tolerance and the "
                         "tolerance's source")

    report = sub.add_parser("report", help="re-render a report (report.md, plots, CSVs) from "
                            "saved results.json, computing nothing again")
    report.add_argument("results", metavar="RESULTS.json", help="a results.json, or the report "
                        "folder that holds it")
    report.add_argument("--out", metavar="DIR", help="report folder (default: re-render in "
                        "place, replacing the folder whole)")
    report.add_argument("--force", action="store_true", help="replace an earlier diffcmp "
                        "report in --out")

    diff = sub.add_parser("diff", help="what changed between two runs: status changes and "
                          "timings beyond noise; exit 1 when an engine's agreement got worse")
    diff.add_argument("old", metavar="OLD.json", help="the earlier results.json (or its folder)")
    diff.add_argument("new", metavar="NEW.json", help="the later results.json (or its folder)")
    diff.add_argument("--min-change", type=_fraction, default=MIN_CHANGE, metavar="FRACTION",
                      help="smallest relative time change that counts, however small the IQRs "
                      f"(default {MIN_CHANGE:g})")
    gradbench_command.add_parser(sub)  # diffcmp gradbench: GradBench's eval side (issue 20)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand; library errors become ``error: ...`` and an exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("run", "sweep") or getattr(args, "engines", None) is True:
            for problem in plugin_problems():  # the plugin is left out; the rest runs
                print(f"warning: {problem}", file=sys.stderr)
        return COMMANDS[args.command](args)
    except DiffcmpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        print(f"error: interrupted; {_finished(exc.completed)}; no report was written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("error: interrupted (a report is written whole or not at all)", file=sys.stderr)
        return EXIT_INTERRUPTED


def _finished(names: list[str]) -> str:
    if not names:
        return "no case had finished"
    shown = ", ".join(names[:30]) + (f" and {len(names) - 30} more" if len(names) > 30 else "")
    return f"{len(names)} case(s) had finished: {shown}"


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (a plain ``kill``) like Ctrl-C: stop cleanly, never half a report."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _second_order_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--order", type=int, choices=(1, 2), default=1,
                        help="2: grade every engine's Hessian and Hessian-vector product too "
                        "(default 1, the gradient; a case's own 'order = 2' asks for it)")
    parser.add_argument("--max-hessian-n", type=_threads, default=MAX_HESSIAN_N, metavar="N",
                        help=f"skip the full Hessian above N parameters (default "
                        f"{MAX_HESSIAN_N:,}); the Hessian-vector product still runs")


def _device(options: Options) -> None:
    """Pin JAX to the run's device in the workers' environment; fail now, in one line, where
    ``--device cuda`` is asked for and absent."""
    devices.prepare_environment(options.device)
    devices.require(options.device, options.engines)


def _run(args: argparse.Namespace) -> int:
    settings = resolve({"paths": args.paths, "engines": args.engines, "timeout": args.timeout,
                        "min_time": args.min_time, "out": args.out,
                        "scheduler": args.scheduler})
    paths = settings["paths"]
    if not paths:
        where = f" in {settings.path}" if settings.path else ""
        raise DiffcmpError(f"no PATH given, and no [tool.diffcmp] paths{where}")
    options = Options(engines=tuple(settings["engines"]), timing=not args.no_timing,
                      min_time=settings["min_time"], threads=args.threads, tags=tuple(args.tag),
                      tolerance=settings["tolerance"], order=args.order,
                      max_hessian_n=args.max_hessian_n, device=args.device, dtypes=args.dtype)
    _device(options)
    out = settings["out"]
    if out:
        check_out(out, force=args.force)  # fail now, not after a long run
    progress = CaseProgress(paths, options.tags, quiet=args.quiet, bar=is_tty())
    with _terminate_as_interrupt():
        try:
            result = run_suite(paths, options, progress=progress, timeout=settings["timeout"],
                               jobs=args.jobs, scheduler=settings["scheduler"])
        finally:
            progress.close()
        result.meta["settings"] = settings.describe()
        if out:
            written = write_report(result, out, force=args.force)
        else:
            written = write_new_report(result, REPORTS)
            if not point_latest(written):
                print(f"note: {REPORTS / LATEST} is not a link diffcmp made; it was left alone",
                      file=sys.stderr)
    for row in result.errors.itertuples():
        print(f"error: {row.message}", file=sys.stderr)
    if not args.quiet:
        print(_summary(result, written))
    return result.exit_code


def _summary(result: Result, out: Path) -> str:
    lines = [verdict(result, links=False).replace("**", "")]
    failing = result.failures()  # an undefined point once, by the reference's row
    for row in failing.itertuples():
        what = "" if row.derivative == "gradient" else f" {row.derivative}"
        lines.append(f"  {row.case} [point {row.point}] {row.engine}{what}: {row.status}: "
                     f"{row.message}")
    expectations = result.expectations
    if not expectations.empty:
        for row in expectations[~expectations["holds"].astype(bool)].itertuples():
            lines.append(f"  {row.case}: expect {row.kind} {row.item}: expected {row.expected}, "
                         f"got {row.actual}")
    lines.append(f"report: {out / 'report.md'}")
    return "\n".join(lines)


def _list(args: argparse.Namespace) -> int:
    if args.engines:
        for name in engine_names():
            info = engine_info(name)
            origin = info.origin if info.default else f"{info.origin}, run when named"
            print(f"{name}  ({origin})  tolerance {info.tolerance:g}\n"
                  f"    {info.summary}\n    tolerance: {info.tolerance_source}")
        return 0
    status = 0
    for path in discover(args.paths):
        try:
            cases = load_cases(path)
        except DiffcmpError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        for case in cases:
            count = sum(v.size for v in case.params.values())
            tags = ",".join(case.tags) or "-"
            print(f"{case.name:32} {tags:20} {count:5d} params  {case.description}")
    return status


def _report(args: argparse.Namespace) -> int:
    path = Path(args.results)
    result = load_results(path)
    if path.is_dir():
        path = path / "results.json"
    if args.out:
        written = write_report(result, Path(args.out), force=args.force)
    else:
        # in place: the folder is rewritten whole (staged, then swapped), so the old report
        # stays until the new one is complete; resolved, so reports/latest stays a link
        written = write_report(result, path.parent.resolve(), force=True)
    print(f"report: {written / 'report.md'}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    old, new = load_results(args.old), load_results(args.new)
    comparison = compare_results(old, new, min_change=args.min_change, old_name=args.old,
                                 new_name=args.new)
    print(comparison.to_text())
    return comparison.exit_code


def _explain(args: argparse.Namespace) -> int:
    cases = load_cases(args.case)
    for case in cases:
        explanation = explain(case, args.point)
        print(explanation.to_mermaid() if args.format == "mermaid" else explanation.to_text())
    return 0


def _sweep(args: argparse.Namespace) -> int:
    settings = resolve({"engines": args.engines, "timeout": args.timeout,
                        "min_time": args.min_time, "scheduler": args.scheduler})
    options = Options(engines=tuple(settings["engines"]), timing=not args.no_timing,
                      min_time=settings["min_time"], threads=args.threads,
                      tolerance=settings["tolerance"], order=args.order,
                      max_hessian_n=args.max_hessian_n, device=args.device, dtypes=args.dtype)
    _device(options)
    if args.out:
        check_out(args.out, force=args.force)

    def on_size(run: SizeRun) -> None:
        print(size_line(run), file=sys.stderr, flush=True)

    with _terminate_as_interrupt():
        result = sweep(args.case, args.sizes, options, timeout=settings["timeout"],
                       on_size=None if args.quiet else on_size, scheduler=settings["scheduler"])
        written = write_sweep_report(result, args.out, args.force, parent=REPORTS)
    if not args.quiet:
        print(sweep_summary(result, written))
    return result.exit_code


COMMANDS = {"explain": _explain, "run": _run, "list": _list, "report": _report, "diff": _diff,
            "sweep": _sweep, "gradbench": gradbench_command.run_command}

if __name__ == "__main__":
    sys.exit(main())
