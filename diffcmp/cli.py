"""The ``diffcmp`` command line.

Errors the library raises become ``error: ...`` on stderr and an exit code here, in one place:
0 every engine agrees, 1 a disagreement or failed expectation, 2 bad usage or a case file that
could not be loaded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from . import __version__
from .case import discover, load_cases
from .engines import ENGINE_NAMES
from .errors import DiffcmpError
from .output import write_report
from .results import Result
from .runner import Options, run_suite
from .timing import MIN_TIME_S

EXIT_USAGE = 2


def _engines(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [n for n in names if n not in ENGINE_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown engine '{unknown[0]}' (known: {', '.join(ENGINE_NAMES)})")
    return names


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="diffcmp", description="Compare SymPy, PyTorch, JAX and finite-difference gradients "
        "against a high-precision reference.")
    parser.add_argument("--version", action="version", version=f"diffcmp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run cases and write a report")
    run.add_argument("paths", nargs="+", metavar="PATH", help="case files or folders of them")
    run.add_argument("--out", metavar="DIR", help="report folder (default: a new timestamped "
                     "folder under reports/, with reports/latest pointing to it)")
    run.add_argument("--force", action="store_true", help="replace an earlier diffcmp report "
                     "in --out")
    run.add_argument("--engines", type=_engines, default=ENGINE_NAMES, metavar="A,B",
                     help=f"engines to run (default: all: {','.join(ENGINE_NAMES)}); the "
                     "reference always runs")
    run.add_argument("--tag", action="append", default=[], metavar="TAG",
                     help="only cases with this tag (repeatable)")
    run.add_argument("--no-timing", action="store_true", help="agreement only")
    run.add_argument("--min-time", type=_positive, default=MIN_TIME_S, metavar="SECONDS",
                     help=f"minimum measured time per phase (default {MIN_TIME_S})")
    run.add_argument("--threads", type=int, default=1, metavar="N",
                     help="PyTorch intra-op threads (default 1)")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")

    listing = sub.add_parser("list", help="list cases with tags, parameter counts, descriptions")
    listing.add_argument("paths", nargs="*", default=["cases"], metavar="PATH")

    report = sub.add_parser("report", help="re-render a report from saved results.json")
    report.add_argument("results", metavar="RESULTS.json")
    report.add_argument("--out", metavar="DIR")
    report.add_argument("--force", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand; library errors become ``error: ...`` and an exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DiffcmpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted; no report was written", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    options = Options(engines=args.engines, timing=not args.no_timing, min_time=args.min_time,
                      threads=args.threads, tags=tuple(args.tag))
    out = Path(args.out) if args.out else _timestamped()
    result = run_suite(args.paths, options, progress=None if args.quiet else _progress)
    written = write_report(result, out, force=args.force)
    if not args.out:
        _point_latest(written)
    for row in result.errors.itertuples():
        print(f"error: {row.message}", file=sys.stderr)
    if not args.quiet:
        print(_summary(result, written))
    return result.exit_code


def _progress(name: str) -> None:
    if sys.stderr.isatty():
        print(f"\r\033[K{name}", end="", file=sys.stderr, flush=True)


def _timestamped() -> Path:
    return Path("reports") / datetime.now().strftime("run-%Y%m%d-%H%M%S")


def _point_latest(target: Path) -> None:
    latest = target.parent / "latest"
    if latest.is_symlink() or not latest.exists():
        tmp = target.parent / ".latest.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target.name)
        tmp.replace(latest)


def _summary(result: Result, out: Path) -> str:
    from .report import verdict

    lines = [verdict(result).replace("**", "")]
    failing = result.failing()
    for row in failing.itertuples():
        lines.append(f"  {row.case} [point {row.point}] {row.engine}: {row.status}: {row.message}")
    expectations = result.expectations
    if not expectations.empty:
        for row in expectations[~expectations["holds"].astype(bool)].itertuples():
            lines.append(f"  {row.case}: expect {row.kind} {row.item}: expected {row.expected}, "
                         f"got {row.actual}")
    lines.append(f"report: {out / 'report.md'}")
    return "\n".join(lines)


def _list(args: argparse.Namespace) -> int:
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
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DiffcmpError(f"{path}: cannot be read ({exc.strerror})") from None
    result = Result.from_json(text, str(path))
    out = Path(args.out) if args.out else path.parent
    if out.resolve() == path.parent.resolve():
        (out / "report.md").write_text(result.to_markdown(), encoding="utf-8")
        written = out
    else:
        written = write_report(result, out, force=args.force)
    print(f"report: {written / 'report.md'}")
    return 0


COMMANDS = {"run": _run, "list": _list, "report": _report}

if __name__ == "__main__":
    sys.exit(main())
