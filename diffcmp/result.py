"""The user's view of a run: its tables (:class:`~diffcmp.results.tables.Tables`) with the
report they make, in markdown, in a notebook, and as figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .report.html import render_html
from .report.markdown import render_markdown
from .report.plots import error_figure, grad_time_figure, ratio_figure
from .report.verdict import verdict
from .results.tables import Tables

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (report.plots)
    from matplotlib.figure import Figure


class Result(Tables):
    """Every table of a run, as DataFrames (``agreement``, ``gradients``, ``timing``,
    ``expressions``, ``expectations``, ``errors``, ``one_sided``), run metadata (``meta``), the
    exit policy (``ok``, ``exit_code``, ``failing()``) and the report (:meth:`to_markdown`,
    :meth:`plot`, and the verdict with the status table in a notebook)."""

    def __str__(self) -> str:
        """The verdict line (``PASS. torch agrees with the reference at ...``), as ``diffcmp run``
        prints it: ``print(result)`` shows what a person acts on, not the tables."""
        return verdict(self, links=False).replace("**", "")

    def __repr__(self) -> str:
        """``<Result: the verdict line>``: the tables are attributes, not a dump."""
        return f"<Result: {self}>"

    def to_markdown(self) -> str:
        """The markdown report (see :mod:`diffcmp.report.markdown`)."""
        return render_markdown(self)

    def _repr_html_(self) -> str:
        """Jupyter's view: the verdict line and the status table, failing cells marked."""
        return render_html(self)

    def plot(self) -> list[Figure]:
        """The report's figures the result has data for (errors, grad time, grad / loss), as
        matplotlib :class:`~matplotlib.figure.Figure` objects of their own (no pyplot state):
        a notebook shows one by leaving it last in a cell, ``figure.savefig`` writes it."""
        figures = [make(self) for make in (error_figure, grad_time_figure, ratio_figure)]
        return [figure for figure in figures if figure is not None]
