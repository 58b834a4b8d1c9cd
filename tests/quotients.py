"""One check shared by the tests of the language's operations: an array graph's gradient, derived
by matcalc and evaluated in high precision, against central differences of the loss itself."""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np

from diffcmp import lang
from diffcmp.matcalc import graph as g
from diffcmp.matcalc.derive import derive
from diffcmp.matcalc.evaluate import Program
from diffcmp.ops import mpmath as mpmath_ops


def check_quotients(root: g.Node, leaves: dict[str, g.Node], values: dict[str, Any],
                    params: list[str], digits: int = 60, step: int = 20, agree: int = 30) -> None:
    """Each of ``params``' gradient of ``root``, evaluated at ``digits`` digits, against central
    differences at steps ``10**-step``: they must agree to ``10**-agree``."""
    gradient = derive(root, [leaves[p] for p in params])
    with mpmath.workdps(digits):
        run = Program(gradient.outputs).compile(mpmath_ops.OPS, fresh_constants=True)
        env = {k: mpmath_ops.array(v) for k, v in values.items()}
        exact = dict(zip(params, run(env)[1:], strict=True))
        h = mpmath.mpf(10) ** -step
        for name in params:
            shape = np.shape(values[name])
            found = np.broadcast_to(np.array(exact[name], dtype=object), shape)
            for index in np.ndindex(*shape):
                up, down = dict(env), dict(env)
                up[name], down[name] = env[name].copy(), env[name].copy()
                up[name][index] += h
                down[name][index] -= h
                quotient = (run(up)[0] - run(down)[0]) / (2 * h)
                assert abs(found[index] - quotient) <= mpmath.mpf(10) ** -agree, (name, index)


def weighted(form: str, shapes: dict[str, Any]) -> tuple[str, np.ndarray]:
    """``sum(sin(form) * D)`` with seeded weights ``D`` of the form's shape: every element of the
    form has its own weight, so a misplaced element changes the gradient."""
    shape = lang.result_shape(lang.parse(form), shapes)
    weights = np.random.default_rng(len(form)).normal(size=shape)
    return f"sum(sin({form}) * D)", weights
