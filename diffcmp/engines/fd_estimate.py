"""The best finite-difference gradient of a black-box function, with an error estimate per
component: what grades a user's gradient when no symbolic loss is given.

Two estimators, both on ``f(x) -> scalar`` over a flat float64 point:

* :func:`complex_step`: ``Im f(x + i h e_k) / h`` with ``h = 1e-30``, exact to rounding when
  ``f`` is analytic and accepts complex input. Its error is what float64 rounding of the
  computation leaves, measured (:func:`rounding_spread`): the same derivative at points a few
  units in the last place away, whose differences are the computation's rounding noise.
* :func:`richardson`: central differences at a geometric sequence of steps
  ``h_j = s 2^-(3+j)``, ``j = 0..STEPS-1``, with ``s = max(1, log1p|x_k|)`` (the step scale of
  numdifftools), extrapolated ``LEVELS`` times (Richardson: each level removes the next even power
  of ``h`` from the error). Every entry of the table gets an error estimate: the largest of its
  difference from its finer neighbour, its coarser neighbour's difference divided by the error
  ratio of its level, and the finer neighbour's own difference (three consistent values, so a
  chance agreement of two noisy ones is not taken for convergence), plus the rounding bound of its
  function values (``NOISE_ULPS`` units in the last place of each, carried through the
  extrapolation). The entry with the smallest estimate wins. Steps that leave the function's
  domain (a non-finite value, or an exception) are skipped. Checked against known derivatives of
  exp, sin, log, sqrt, atan, tanh, softplus and others at random points: the true error stayed
  below the estimate, except where the function values carry more rounding than ``NOISE_ULPS``
  (``1e8 * sin(x) + 1e8``: 2.3 times), which the grading's ``SAFETY`` factor covers.

:func:`line` does the same along any direction ``v`` and keeps, from the same calls, the
one-sided quotients ``(f(x + h v) - f(x)) / h`` and ``(f(x) - f(x - h v)) / h`` too, extrapolated
in powers of ``h`` (not ``h^2``): where they differ beyond their error estimates ``f`` has a kink
at ``x`` along ``v`` (:attr:`Line.kink`), and the central estimate, their average, is no
derivative.

Cost: ``2 * STEPS`` calls of ``f`` per component for Richardson, one complex call per component
for the complex step (and ``SPREAD_POINTS`` times that for its rounding spread).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..symbolic.graph import short

EPS = float(np.finfo(np.float64).eps)
#: Complex step size: far below rounding, so the truncation error ``h^2 f''' / 6`` is nothing.
COMPLEX_STEP = 1e-30
#: Central-difference steps per component, halving from ``s / 8`` ...
STEPS = 16
LARGEST_STEP = 2.0**-3
#: ... and how many times the table is extrapolated (errors O(h^2) -> O(h^4) -> O(h^6) -> O(h^8)).
LEVELS = 3
#: Rounding assumed in each function value, in units in the last place of its magnitude.
NOISE_ULPS = 8
#: Points around ``x`` (a few ulps away) at which the complex step is repeated to measure the
#: computation's rounding, and how many ulps away.
SPREAD_POINTS = 2
SPREAD_ULPS = 4

Function = Callable[[np.ndarray], Any]


@dataclass(frozen=True)
class Estimate:
    """A gradient estimate and, per component, a bound on its error (absolute)."""

    value: np.ndarray
    error: np.ndarray


def _real_call(f: Function, x: np.ndarray) -> float:
    """``f(x)`` as a float; NaN when it raises or is not finite (a step out of the domain)."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(np.real(f(x)))
    except Exception:  # the user's function refusing a point is data here, not a failure
        return math.nan
    return value if math.isfinite(value) else math.nan


def richardson(f: Function, x: np.ndarray) -> Estimate:
    """Richardson-extrapolated central differences of ``f`` at ``x``, component by component,
    each with its error estimate (see the module docstring); NaN and an infinite error for a
    component no step could resolve."""
    x = np.asarray(x, dtype=np.float64)
    lines = [line(f, x, _axis(x.size, k)) for k in range(x.size)]
    return Estimate(np.array([ln.central for ln in lines]),
                    np.array([ln.central_error for ln in lines]))


def _axis(n: int, k: int) -> np.ndarray:
    v = np.zeros(n)
    v[k] = 1.0
    return v


@dataclass(frozen=True)
class Line:
    """The derivative of ``f`` at ``x`` along a direction ``v``: central (two-sided), right
    (``f'(x; v)``) and left (``-f'(x; -v)``) estimates, each Richardson-extrapolated, with their
    error estimates (infinite where no step resolved it)."""

    central: float
    central_error: float
    right: float
    right_error: float
    left: float
    left_error: float

    @property
    def kink(self) -> bool:
        """Whether the one-sided derivatives differ beyond their error estimates (times
        ``KINK_SAFETY``): a kink of ``f`` at ``x`` along the direction."""
        gap = abs(self.right - self.left)
        return bool(math.isfinite(gap) and gap > KINK_SAFETY * (self.right_error + self.left_error)
                    and gap > KINK_RELATIVE * max(abs(self.right), abs(self.left)))


#: How many times their summed error estimates one-sided derivatives must differ by to be a kink,
#: and by how much relative to their size at least (rounding-level gaps of a smooth function
#: with a rough error estimate are not kinks).
KINK_SAFETY = 8.0
KINK_RELATIVE = 1e-6


def line(f: Function, x: np.ndarray, v: np.ndarray, f0: float | None = None) -> Line:
    """The derivative of ``f`` at ``x`` along ``v`` (scaled so that ``max|v| = 1`` is the unit
    of its step), from ``2 * STEPS`` calls (one more without ``f0 = f(x)``): central, right and
    left Richardson tables, each entry with its error estimate, the best of each kept."""
    x = np.asarray(x, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    lead = int(np.argmax(np.abs(v)))
    support = np.abs(x[v != 0]) if np.any(v) else np.zeros(1)
    scale = max(1.0, math.log1p(float(np.max(support))))
    steps = 2.0 ** round(math.log2(scale * LARGEST_STEP)) * 2.0 ** -np.arange(STEPS)
    if f0 is None:
        f0 = _real_call(f, x)
    central, right, left = (np.full(STEPS, np.nan) for _ in range(3))
    noise_c, noise_r, noise_l = (np.full(STEPS, np.nan) for _ in range(3))
    for j, step in enumerate(steps):
        up, down = x + step * v, x - step * v
        t_up = (up[lead] - x[lead]) / v[lead]  # the steps actually taken, representable
        t_down = (x[lead] - down[lead]) / v[lead]
        if not (t_up > 0 and t_down > 0):
            continue
        above, below = _real_call(f, up), _real_call(f, down)
        if not math.isnan(above) and not math.isnan(below):
            central[j] = (above - below) / (t_up + t_down)
            noise_c[j] = 2 * NOISE_ULPS * EPS * max(abs(above), abs(below)) / (t_up + t_down)
        if not math.isnan(f0):
            if not math.isnan(above):
                right[j] = (above - f0) / t_up
                noise_r[j] = 2 * NOISE_ULPS * EPS * max(abs(above), abs(f0)) / t_up
            if not math.isnan(below):
                left[j] = (f0 - below) / t_down
                noise_l[j] = 2 * NOISE_ULPS * EPS * max(abs(below), abs(f0)) / t_down
    c, ce = _best(central, noise_c, 4.0)
    r, re = _best(right, noise_r, 2.0)
    le, lee = _best(left, noise_l, 2.0)
    return Line(c, ce, r, re, le, lee)


def _best(quotients: np.ndarray, noise: np.ndarray, base: float) -> tuple[float, float]:
    """The Richardson table of ``quotients`` (errors in powers of the step: ``base`` 4 for
    central differences, 2 for one-sided ones), its entry with the smallest error estimate."""
    best, best_error = math.nan, math.inf
    table, rounding = quotients, noise
    for level in range(LEVELS + 1):
        if level:
            factor = base**level
            table = (factor * table[1:] - table[:-1]) / (factor - 1)
            rounding = (factor * rounding[1:] + rounding[:-1]) / (factor - 1)
        ratio = base ** (level + 1)  # how much smaller the next (finer) entry's error is
        for j in range(1, table.size - 2):
            error = max(abs(table[j] - table[j + 1]), abs(table[j] - table[j - 1]) / ratio,
                        abs(table[j + 1] - table[j + 2])) + rounding[j]
            if error < best_error:  # NaN entries never compare smaller
                best, best_error = float(table[j]), float(error)
    return best, best_error


def complex_step(f: Function, x: np.ndarray) -> np.ndarray:
    """``Im f(x + i h e_k) / h`` for every component ``k``. Raises what ``f`` raises."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.size)
    for k in range(x.size):
        stepped = x.astype(np.complex128)
        stepped[k] += 1j * COMPLEX_STEP
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[k] = np.imag(complex(f(stepped))) / COMPLEX_STEP
    return out


def rounding_spread(f: Function, x: np.ndarray, value: np.ndarray,
                    seed: int = 0) -> np.ndarray:
    """How far the complex-step gradient moves when ``x`` moves a few units in the last place:
    the float64 rounding of the computation (and of the inputs), per component. Seeded."""
    rng = np.random.default_rng(seed)
    spread = np.zeros(value.size)
    for _ in range(SPREAD_POINTS):
        signs = rng.choice([-1.0, 1.0], size=x.size)
        moved = x + signs * SPREAD_ULPS * np.spacing(np.abs(x))
        spread = np.maximum(spread, np.abs(complex_step(f, moved) - value))
    return spread


def complex_usable(f: Function, x: np.ndarray, loss: float) -> str:
    """Why the complex step cannot be used on ``f`` at ``x`` (``""`` when it can): ``f``
    refuses complex input, returns a real number for it (the imaginary part was dropped), or
    a real part that is not its loss."""
    stepped = np.asarray(x, dtype=np.float64).astype(np.complex128)
    stepped[0] += 1j * COMPLEX_STEP
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = f(stepped)
            number = complex(value)
    except Exception as exc:  # refusing complex input is an answer, not a failure
        return f"it does not accept complex input ({type(exc).__name__}: {short(exc, 80)})"
    if not np.iscomplexobj(np.asarray(value)) and not isinstance(value, complex):
        return "it returns a real number for complex input (the imaginary part is dropped)"
    if not abs(number.real - loss) <= 1e-12 * max(1.0, abs(loss)):
        return (f"the real part of its complex value, {number.real:.17g}, is not its loss "
                f"{loss:.17g}")
    return ""


__all__ = ["Estimate", "Line", "complex_step", "complex_usable", "line", "richardson",
           "rounding_spread"]
