"""What ``diffcmp run`` shows on a terminal while it runs: a progress bar, or one line per
finished case where stderr is not a terminal (a CI log, a pipe)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .cases import discover, load_cases
from .errors import DiffcmpError
from .run.progress import Finished, Progress


def is_tty() -> bool:
    """Whether stderr is a terminal."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class CaseProgress(Progress):
    """Progress on stderr: on a terminal a tqdm bar, one step per case, the current case's name
    beside it; elsewhere (a CI log, a pipe) one line per finished case: its name, worst status
    and seconds. Nothing with ``quiet``.

    The total is counted from TOML files only (Python case files are user code and run once, by
    the runner); it is left open when any is present.
    """

    def __init__(self, paths: Sequence[str], tags: Sequence[str], quiet: bool,
                 bar: bool) -> None:
        from tqdm import tqdm

        self.lines = not quiet and not bar
        self.done = 0
        self.total = count_cases(paths, tags) if not quiet else None
        self.bar = tqdm(total=self.total, unit="case", file=sys.stderr,
                        disable=quiet or not bar, leave=False, dynamic_ncols=True)

    def started(self, name: str) -> None:
        """Show ``name`` beside the bar."""
        self.bar.set_postfix_str(name, refresh=True)

    def finished(self, done: Finished) -> None:
        """Step the bar, or print the case's line."""
        self.done += 1
        self.bar.update(1)
        self.bar.refresh()  # now, not at tqdm's next interval: a case may be the last
        if self.lines:
            print(done.line(self.done, self.total), file=sys.stderr, flush=True)

    def close(self) -> None:
        """Take the bar off the terminal."""
        self.bar.close()


def count_cases(paths: Sequence[str], tags: Sequence[str]) -> int | None:
    """The cases ``paths`` hold (with one of ``tags``), counted from TOML files; ``None`` when
    a Python case file is among them (it runs once, by the runner)."""
    try:
        files = discover(paths)
    except DiffcmpError:
        return None
    if any(path.suffix != ".toml" for path in files):
        return None
    count = 0
    for path in files:
        try:
            cases = load_cases(path)
        except DiffcmpError:
            count += 1  # its line says it was not loaded
            continue
        count += sum(1 for case in cases if not tags or set(tags) & set(case.tags))
    return count
