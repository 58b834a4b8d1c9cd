"""The right tool of right_tool.py, 1% off on one component of each eval's derivative
(right_tool.WRONG: for lse a softmax component of about 4.8e-4, which GradBench's rule of
``|a - b| / max(1, |a| + |b|) <= 1e-4`` passes)."""

from __future__ import annotations

import runpy
from pathlib import Path

if __name__ == "__main__":
    right = runpy.run_path(str(Path(__file__).resolve().parent / "right_tool.py"),
                           run_name="right_tool")
    right["main"]("wrong")
