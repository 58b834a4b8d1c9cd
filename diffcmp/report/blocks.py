"""Markdown building blocks: GitHub pipe tables of preformatted cells, escaped text, anchors."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tabulate import tabulate


def fmt(value: object, digits: int = 3) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}g}"
    return str(value)


def cell(value: object) -> str:
    """A table cell: pipes escaped (GitHub needs that even inside code spans), one line."""
    return str(value).replace("\n", " ").replace("|", "\\|")


def text(value: object) -> str:
    """Free text (an engine's message) shown literally: emphasis marks and tags escaped."""
    return str(value).replace("*", "\\*").replace("_", "\\_").replace("<", "&lt;")


def table(rows: list[dict[str, object]] | pd.DataFrame, right: Sequence[str] = ()) -> str:
    """A GitHub (pipe) table of preformatted cells; ``right`` names right-aligned columns."""
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict("records")
    if not rows:
        return "_(none)_"
    headers = list(rows[0])
    body = [[cell(row[h]) for h in headers] for row in rows]
    align = ["right" if h in right else "left" for h in headers]
    return tabulate(body, headers=[cell(h) for h in headers], tablefmt="pipe",
                    disable_numparse=True, colalign=align)


def anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")
