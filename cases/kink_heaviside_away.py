"""A squared hinge written with SymPy's Heaviside, away from its switch.

``Heaviside(w - 1) * (w - 1)**2 + w**2 / 10`` is the one-sided quadratic penalty
``max(0, w - 1)**2`` plus a small ridge term. SymPy gives ``Heaviside`` two arguments (the value
at 0, here 1/2), which every backend must accept. Hand-derived at w = 2: the loss is
1 + 4/10 = 1.4 and the gradient 2 (w - 1) Heaviside(w - 1) + (w - 1)**2 DiracDelta(w - 1) + w / 5
= 2 + 0 + 0.4 = 2.4. Complex step is unsupported (Heaviside is not analytic).
"""

import sympy as sp

import diffcmp

w = sp.Symbol("w", real=True)

CASE = diffcmp.Case(
    name="kink_heaviside_away",
    loss=sp.Heaviside(w - 1) * (w - 1) ** 2 + w**2 / 10,
    params={"w": 2.0},
    description=(
        "Squared hinge max(0, w - 1)**2 written as Heaviside(w - 1) * (w - 1)**2, plus w**2/10, "
        "away from the switch (w = 2): SymPy's two-argument Heaviside through every backend. "
        "Hand-derived: loss 1.4, gradient 2 (w - 1) + w/5 = 2.4."
    ),
    tags=["nonsmooth", "python"],
    expect={"loss": 1.4, "grad": {"w": 2.4}},
)
