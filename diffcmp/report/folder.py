"""Output: the files of a report folder, written whole or not at all.

A report folder holds ``report.md`` and the PNG plots it links, ``agreement.csv``,
``gradients.csv``, ``timing.csv``, ``expressions.csv``, ``hessians.csv`` (a second-order run),
``results.json``, and ``MARKER``, which
lists what diffcmp wrote. It is written into a temporary folder beside the target and moved into
place whole, so an interrupted run never leaves half a report:

* a new folder is renamed into place;
* an earlier report is swapped with the new one in one atomic step (Linux ``renameat2`` with
  ``RENAME_EXCHANGE``); where that is not available, the old folder is renamed aside, the new one
  renamed in, and the old one put back if that fails. Ctrl-C is held back for those two renames.

A folder holding anything diffcmp did not write is never touched, and an earlier diffcmp report
is replaced only with ``force``. Links are not followed: ``out`` must be the folder itself.
:func:`write_new_report` writes to a new timestamped folder, :func:`point_latest` points
``latest`` at it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..results.tables import Tables
from .markdown import render_markdown
from .plots import write_plots

#: A file that marks a folder as written by diffcmp (and lists what it wrote).
MARKER = ".diffcmp-report"
#: The link in a reports folder that points to the newest run.
LATEST = "latest"


def check_out(out: str | Path, force: bool = False) -> Path:
    """Check that ``out`` may be written: new, empty, or an earlier diffcmp report and ``force``.

    Returns ``out`` as an absolute path (links not resolved). Raises :class:`OutputError`; call
    it before a long run so that a bad ``--out`` fails at once.
    """
    out = Path(os.path.abspath(out))
    if out.is_symlink():
        raise OutputError(f"{out}: is a symbolic link; give the folder itself (diffcmp does "
                          "not write through links)")
    if not out.exists():
        return out
    if not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as exc:
        raise OutputError(f"{out}: cannot be read ({exc.strerror})") from None
    if not entries:
        return out
    foreign = _foreign(out)
    if foreign is None:
        raise OutputError(f"{out}: the folder holds files diffcmp did not write; choose another "
                          "--out")
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise OutputError(f"{out}: holds files diffcmp did not write ({', '.join(foreign[:3])}"
                          f"{more}); choose another --out")
    if not force:
        raise OutputError(f"{out}: holds an earlier diffcmp report; pass --force to replace it")
    return out


def _foreign(folder: Path) -> list[str] | None:
    """Entries of ``folder`` its ``MARKER`` does not list (``None``: no marker, yet entries)."""
    try:
        entries = sorted(p.name for p in folder.iterdir())
    except OSError:
        return None
    if not entries:
        return []
    written = _written(folder)
    if written is None:
        return None
    return [name for name in entries if name not in written and name != MARKER]


def _written(folder: Path) -> set[str] | None:
    """The names ``MARKER`` lists, or ``None`` when there is no readable marker."""
    marker = folder / MARKER
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        return set(marker.read_text(encoding="utf-8").split())
    except (OSError, UnicodeDecodeError):
        return None


def write_report(result: Tables, out: str | Path, force: bool = False) -> Path:
    """Write the report folder ``out`` whole, or not at all.

    An existing ``out`` must be empty, or a diffcmp report folder (it has ``MARKER`` and nothing
    else than the files it lists) with ``force`` given. Raises :class:`OutputError`; an error
    while writing the files (a full disk) propagates, and ``out`` is left as it was.
    """
    return write_folder(out, lambda folder: _write_files(result, folder), force)


def write_folder(out: str | Path, write: Callable[[Path], list[str]],
                 force: bool = False) -> Path:
    """Write a folder of diffcmp's whole, or not at all: ``write(folder)`` writes the files
    into a staging folder and returns their names; the folder is then moved to ``out`` as
    :func:`write_report` says (the same checks, the same swap)."""
    given = Path(out)
    out = check_out(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = _staging_folder(out)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write in {out.parent} ({exc.strerror})") from None
    try:
        names = write(staging)
        (staging / MARKER).write_text("\n".join(names) + "\n", encoding="utf-8")
        check_out(out, force)  # again: another run, or the user, may have written there since
        with _interrupts_held():
            _move_into_place(staging, out)
            if staging.exists() and _foreign(staging) != []:  # written in the instant before
                _move_into_place(staging, out)  # swap back: the new report is dropped
                raise OutputError(f"{out}: files diffcmp did not write appeared in it while "
                                  "the report was written; nothing was replaced")
    finally:
        if staging.exists():  # the new report on failure, or the old one after a swap
            shutil.rmtree(staging, ignore_errors=True)
    return given


def _staging_folder(out: Path) -> Path:
    """A new, hidden, uniquely named folder beside ``out`` (with the umask's permissions, which
    ``tempfile.mkdtemp``'s 0700 would hand on to the report)."""
    while True:
        staging = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
        try:
            staging.mkdir()
            return staging
        except FileExistsError:
            continue


def _move_into_place(staging: Path, out: Path) -> None:
    """Put the folder ``staging`` at ``out``; any earlier ``out`` ends up at ``staging``."""
    if not out.exists():
        try:
            os.rename(staging, out)
        except OSError as exc:
            raise OutputError(f"{out}: cannot be created ({exc.strerror}); if another run "
                              "wrote it meanwhile, nothing of it was replaced") from None
        return
    if _exchange(staging, out):
        return
    aside = staging.with_name(staging.name + ".old")
    try:
        os.rename(out, aside)
    except OSError as exc:
        raise OutputError(f"{out}: the earlier report cannot be moved aside "
                          f"({exc.strerror}); it is unchanged") from None
    try:
        os.rename(staging, out)
    except BaseException as exc:
        os.rename(aside, out)  # put the earlier report back
        if isinstance(exc, OSError):
            raise OutputError(f"{out}: the new report cannot be moved into place "
                              f"({exc.strerror}); the earlier one is unchanged") from None
        raise
    os.rename(aside, staging)  # removed with the staging folder


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux ``renameat2``); False where that is unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # kernel or filesystem lacks it
        return False
    raise OutputError(f"{b}: the earlier report cannot be replaced ({os.strerror(code)}); it "
                      "is unchanged")


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs; act on them after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for sig in caught[:1]:
        handler = previous[sig]
        if callable(handler):
            handler(sig, None)
        elif handler == signal.SIG_DFL:
            if sig == signal.SIGINT:
                raise KeyboardInterrupt
            os.kill(os.getpid(), sig)


def write_new_report(result: Tables, parent: str | Path = "reports") -> Path:
    """Write the report to a new folder ``parent/run-YYYYmmdd-HHMMSS``; return that folder.

    Names are reserved by creating the folder, so runs finishing in the same second get
    ``-02``, ``-03``... and never share a folder. :func:`point_latest` then marks it newest.
    """
    return write_new_folder(parent, "run", lambda target: write_report(result, target))


def write_new_folder(parent: str | Path, prefix: str,
                     write: Callable[[Path], Path]) -> Path:
    """Reserve a new folder ``parent/PREFIX-YYYYmmdd-HHMMSS`` (see :func:`write_new_report`)
    and have ``write(folder)`` write it whole; return what ``write`` returns."""
    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{parent}: cannot be created ({exc.strerror})") from None
    stamp = datetime.now().strftime(f"{prefix}-%Y%m%d-%H%M%S")
    for number in range(1, 1000):
        target = parent / (stamp if number == 1 else f"{stamp}-{number:02d}")
        try:
            target.mkdir()
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"{target}: cannot be created ({exc.strerror})") from None
    else:
        raise OutputError(f"{parent}: no free name for {stamp}")
    try:
        written = write(target)
    except BaseException:
        with contextlib.suppress(OSError):
            target.rmdir()  # only while it is still the empty folder reserved above
        raise
    return written


def point_latest(target: Path) -> bool:
    """Point ``target.parent/latest`` at ``target`` unless it points to a newer run already.

    The link is replaced atomically. Returns False (and leaves it alone) when ``latest`` exists
    and is not a link, or links cannot be made here.
    """
    latest = target.parent / LATEST
    if latest.exists() and not latest.is_symlink():
        return False
    if latest.is_symlink():
        current = os.readlink(latest)
        if current > target.name and (target.parent / current).is_dir():
            return True  # a run that started later has finished already
    temporary = target.parent / f".{LATEST}.{os.getpid()}.{threading.get_ident()}"
    try:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(target.name)
        os.replace(temporary, latest)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    return True


def _write_files(result: Tables, folder: Path) -> list[str]:
    names = write_files(result, folder)  # report.md and the plots it links
    for name in ("agreement", "gradients", "timing", "expressions", "hessians"):
        if name == "hessians" and result.hessians.empty:  # a first-order run has none
            continue
        getattr(result, name).to_csv(folder / f"{name}.csv", index=False)
        names.append(f"{name}.csv")
    (folder / "results.json").write_text(result.to_json(), encoding="utf-8")
    names.append("results.json")
    return names


def write_files(result: Tables, folder: str | Path, plots: bool = True) -> list[str]:
    """Write the plots and ``report.md`` (linking them) into ``folder``; return the file names."""
    folder = Path(folder)
    names: list[str] = []
    if plots:
        names = write_plots(result, folder)
    (folder / "report.md").write_text(render_markdown(result, names), encoding="utf-8")
    return ["report.md", *names]
