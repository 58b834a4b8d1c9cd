"""Symbolic work: a case lowered to SymPy (:mod:`~diffcmp.symbolic.problem`), its computational
graph and backward pass (:mod:`~diffcmp.symbolic.graph`), the exact gradient
(:mod:`~diffcmp.symbolic.derive`) with its shared ``cse``, ``lambdify`` over the op tables, and
translation from SymPy into any backend's ops (:mod:`~diffcmp.symbolic.translate`)."""
