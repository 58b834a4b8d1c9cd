"""The ``diffcmp gradbench`` subcommand: its arguments and what it does (the command line,
:mod:`diffcmp.cli`, adds it and turns errors into ``error: ...``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..report.folder import check_out
from ..run.limits import DEFAULT_TIMEOUT_S
from .answers import DEFAULT_TOLERANCE
from .evals import EVALS, MIN_RUNS, MIN_SECONDS
from .report import summary, write_gradbench_report
from .session import run_gradbench


def _number(kind: type, accept: Any, rule: str) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: '{text}'") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(rule)
        return value

    return parse


def add_parser(sub: Any) -> None:
    """Add ``gradbench`` to the subcommands ``sub``."""
    parser = sub.add_parser(
        "gradbench", help="grade a GradBench tool against diffcmp's certified reference",
        description="Run GradBench's evals against a GradBench tool (a command speaking "
        "GradBench's JSON-lines protocol on stdin/stdout): GradBench's functions, inputs and "
        "sizes, each answer graded against diffcmp's certified reference with diffcmp's floors "
        "and statuses, the tool's timings beside diffcmp's. Exit 0 when every graded function "
        "is ok, 1 otherwise, 2 for bad usage.")
    parser.add_argument("--tool", required=True, metavar="CMD", help="the shell command that "
                        "starts the tool, e.g. \"python tool.py\"; started afresh for each eval")
    parser.add_argument("--eval", default=",".join(EVALS), metavar="A,B",
                        help=f"evals to run (default: {','.join(EVALS)})")
    parser.add_argument("--inputs", type=_number(int, lambda v: v >= 1, "must be 1 or more"),
                        default=1, metavar="N", help="how many of each eval's GradBench "
                        "inputs, smallest first (default 1: lse n = 2,500; llsq n = 16, m = "
                        "128; det ell = 5; kmeans k = 10, n = 1,000, d = 8)")
    parser.add_argument("--min-runs", type=_number(int, lambda v: v >= 1, "must be 1 or more"),
                        default=MIN_RUNS, metavar="N",
                        help=f"runs the tool makes of each function at least (GradBench's "
                        f"default {MIN_RUNS})")
    parser.add_argument("--min-seconds", type=_number(float, lambda v: v >= 0,
                                                      "must be 0 or more"),
                        default=MIN_SECONDS, metavar="S", help="seconds the tool runs each "
                        f"function at least (GradBench's default {MIN_SECONDS:g})")
    parser.add_argument("--timeout", type=_number(float, lambda v: v > 0, "must be positive"),
                        default=DEFAULT_TIMEOUT_S, metavar="SECONDS", help="the longest the tool "
                        f"may take to answer one message (default {DEFAULT_TIMEOUT_S:g}); a "
                        "tool that takes longer is stopped: 'timeout' (hang)")
    parser.add_argument("--tolerance", type=_number(float, lambda v: v >= 0, "must be 0 or "
                                                    "more"), default=DEFAULT_TOLERANCE,
                        metavar="T", help=f"the graded tolerance (default {DEFAULT_TOLERANCE:g},"
                        " as diffcmp's reverse-mode engines)")
    parser.add_argument("--no-independent-check", action="store_true",
                        help="skip the reference's independent derivation (its values stay "
                        "certified by their balls; the check is most of the reference's time)")
    parser.add_argument("--out", metavar="DIR", help="report folder (default: a new "
                        "reports/gradbench-YYYYmmdd-HHMMSS)")
    parser.add_argument("--force", action="store_true", help="replace an earlier diffcmp "
                        "report in --out")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


def run_command(args: argparse.Namespace) -> int:
    """Run ``diffcmp gradbench``; returns the exit code."""
    if args.out:
        check_out(args.out, force=args.force)  # fail now, not after the run

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = run_gradbench(args.tool, args.eval, inputs=args.inputs, min_runs=args.min_runs,
                           min_seconds=args.min_seconds, timeout=args.timeout,
                           tolerance=args.tolerance, independent=not args.no_independent_check,
                           progress=None if args.quiet else progress)
    written = write_gradbench_report(result, args.out, args.force)
    if not args.quiet:
        print(summary(result, written))
    return result.exit_code
