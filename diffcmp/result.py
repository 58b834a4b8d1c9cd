"""The user's view of a run: its tables (:class:`~diffcmp.results.tables.Tables`) with the
report they make."""

from __future__ import annotations

from .report.markdown import render_markdown
from .results.tables import Tables


class Result(Tables):
    """Every table of a run, as DataFrames (``agreement``, ``gradients``, ``timing``,
    ``expressions``, ``expectations``, ``errors``, ``one_sided``), run metadata (``meta``), the
    exit policy (``ok``, ``exit_code``, ``failing()``) and the report (:meth:`to_markdown`)."""

    def to_markdown(self) -> str:
        """The markdown report (see :mod:`diffcmp.report.markdown`)."""
        return render_markdown(self)
