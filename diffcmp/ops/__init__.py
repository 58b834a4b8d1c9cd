"""Operations: the one spec (:mod:`~diffcmp.ops.spec`) and one implementation table per backend.

Backends are imported on use (``from diffcmp.ops.torch import OPS``), so importing the spec
imports no framework.
"""
