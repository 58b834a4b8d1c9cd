"""The issue-17 table for diffcmp.check on the corpus of tests/check_corpus.py: bugs caught,
false alarms, wrong component named, time per check, with ``loss=`` (where the language can
express the loss) and without.

A bug is caught when the result is not ``ok``; a false alarm is a correct version whose result
is not ``ok``; the component is named when the buggy row's message names (first) a component
the bug really gets wrong (or, for a non-finite output, the loss). diffcmp raising instead of
returning a result counts as a false alarm on a correct version and as a miss on a buggy one.
Run from the repository root: ``PYTHONPATH=. python benchmarks/check_corpus.py`` (any checkout:
the corpus is imported from this file's repository). ``--adapt`` wraps each function in the
call shape an older diffcmp needed (every data entry received, a single param's gradient in a
dict), to compare the grading alone; ``-v`` prints each miss and false alarm.
"""

from __future__ import annotations

import inspect
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from check_corpus import families, named, wrong_components

import diffcmp


def adapt(fn):
    """``fn`` taking every data entry (``**kwargs``) and returning its gradient as a dict."""
    names = list(inspect.signature(fn).parameters)  # the first is the param

    def wrapped(**kwargs):
        out = fn(**{k: v for k, v in kwargs.items() if k in names})
        if isinstance(out, tuple) and not isinstance(out[1], dict):
            return out[0], {names[0]: out[1]}
        return out

    wrapped.__name__ = fn.__name__
    return wrapped


def run(family, fn, loss, row: str) -> tuple[bool | None, str, str, float]:
    """(ok or None when diffcmp raised, status, message, seconds)."""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = diffcmp.check(fn, family.params, family.data, loss=loss, name=row)
    except Exception as exc:  # the tool failing is a result of this table
        return None, "raised", f"{type(exc).__name__}: {exc}", time.perf_counter() - start
    seconds = time.perf_counter() - start
    rows = result.agreement[result.agreement["engine"] == row]
    status = str(rows["status"].iloc[0]) if len(rows) else "?"
    message = str(rows["message"].iloc[0]) if len(rows) else ""
    return bool(result.ok), status, message, seconds


def main() -> None:
    corpus = families()
    verbose = "-v" in sys.argv
    wrap = adapt if "--adapt" in sys.argv else (lambda fn: fn)
    lines = []
    for mode in ("with loss=", "without loss="):
        caught = alarms = names = bugs = correct = 0
        times = []
        for family in corpus:
            loss = family.loss if mode == "with loss=" else None
            if mode == "with loss=" and family.loss is None:
                continue
            ok, status, message, seconds = run(family, wrap(family.correct), loss, "correct")
            times.append(seconds)
            correct += 1
            alarms += ok is not True
            if verbose and ok is not True:
                print(f"  false alarm {mode} {family.name}: {status}: {message[:160]}")
            ok, status, message, seconds = run(family, wrap(family.buggy), loss, "buggy")
            times.append(seconds)
            bugs += 1
            hit = ok is False
            caught += hit
            wrong = wrong_components(family)
            who = named(message)
            named_it = hit and (who in wrong or (who == "loss" or (status in ("nan", "undefined")
                                                 and family.name == "softmax_nan")))
            names += named_it
            if verbose and not named_it:
                print(f"  {'missed' if not hit else 'unnamed'} {mode} {family.name}: "
                      f"{status}: {message[:160]}")
        lines.append(f"| `check()` {mode} | {caught}/{bugs} | {alarms} of {correct} | "
                     f"{names}/{bugs} | {statistics.median(times):.3f} s median, "
                     f"{max(times):.3f} s max |")
    print(f"{len(corpus)} families, {sum(f.loss is not None for f in corpus)} with a loss in "
          "diffcmp's language")
    print("| checker | bugs caught | false alarms | names the component | time per check |")
    print("|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
