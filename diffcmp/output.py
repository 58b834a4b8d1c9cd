"""Output: the files of a report folder, written whole or not at all.

A report folder holds ``report.md``, ``agreement.csv``, ``gradients.csv``, ``timing.csv``,
``expressions.csv`` and ``results.json``. It is written into a temporary folder beside the target
and moved into place whole, so an interrupted run never leaves half a report; a folder that holds
files diffcmp did not write is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import OutputError
from .results import Result

#: A file that marks a folder as written by diffcmp (and lists what it wrote).
MARKER = ".diffcmp-report"



def write_report(result: Result, out: str | Path, force: bool = False) -> Path:
    """Write the report folder ``out`` whole, or not at all.

    An existing ``out`` must be a diffcmp report folder (it has ``MARKER``) and ``force`` must be
    given; a folder with anything else in it is never touched. Raises :class:`OutputError`.
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputError(f"{out}: exists and is not a folder")
        if any(out.iterdir()):
            marker = out / MARKER
            if not marker.is_file():
                raise OutputError(f"{out}: the folder holds files diffcmp did not write; "
                                  "choose another --out")
            written = set(marker.read_text().split())
            foreign = sorted(p.name for p in out.iterdir()
                             if p.name not in written and p.name != MARKER)
            if foreign:
                raise OutputError(f"{out}: holds files diffcmp did not write "
                                  f"({', '.join(foreign[:3])}); choose another --out")
            if not force:
                raise OutputError(f"{out}: holds an earlier diffcmp report; pass --force to "
                                  "replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        names = _write_files(result, staging)
        (staging / MARKER).write_text("\n".join(names) + "\n")
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, trash / "old")
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_files(result: Result, folder: Path) -> list[str]:
    (folder / "report.md").write_text(result.to_markdown(), encoding="utf-8")
    names = ["report.md"]
    for name in ("agreement", "gradients", "timing", "expressions"):
        getattr(result, name).to_csv(folder / f"{name}.csv", index=False)
        names.append(f"{name}.csv")
    (folder / "results.json").write_text(result.to_json(), encoding="utf-8")
    names.append("results.json")
    return names
