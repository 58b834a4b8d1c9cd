"""GradBench's eval side (``diffcmp gradbench``): any GradBench tool, graded against diffcmp's
certified reference on GradBench's own evals, functions, inputs and sizes.

:mod:`.protocol` speaks GradBench's JSON-lines protocol with a tool process, :mod:`.evals`
knows the evals (their generators and losses), :mod:`.reference` and :mod:`.answers` grade the
answers with diffcmp's machinery, :mod:`.session` runs it all and :mod:`.report` writes the
folder.
"""

from __future__ import annotations

from .session import GradbenchResult, run_gradbench

__all__ = ["GradbenchResult", "run_gradbench"]
