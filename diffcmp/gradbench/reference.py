"""What a GradBench tool's answers are graded against: diffcmp's certified reference at one
input, per function, with the case's floors.

The reference is the run's own (:mod:`diffcmp.run.evaluate`): the ``reference`` engine's loss
and gradient in ball arithmetic, settled by the independent derivation, kinks found by the kink
detector, floors from the float64 rounding bound (:mod:`diffcmp.grading.floors`). Each of a
tool's functions is graded as a vector of values with its own floors:

* the value (``primal``, ``cost``): the certified loss, one value named ``primal``;
* the gradient: the certified gradient, its components named as diffcmp names them;
* kmeans' ``dir``, the gradient divided by the Hessian's diagonal: the diagonal is the
  reference's certified Hessian-vector product along the ones vector, which is the diagonal
  because this loss's Hessian is diagonal away from ties (GradBench's ``evals/kmeans/
  README.md``: ``2 n_j`` for every coordinate of centroid ``j``). That is checked at the point
  with a second certified product along a seeded random vector ``v``: ``H v`` must equal
  ``diag * v`` (for a Hessian that is not diagonal it does not, but on a set of ``v`` of
  measure zero); tests/test_gradbench_protocol.py also compares the full certified Hessian at a
  small size. The quotients are worked out from the certified decimal texts at 40 digits: each
  is proven to one digit fewer than its two operands. Its floors are the gradient's divided by
  the diagonal (float64 rounding of the gradient, carried through the division), so grading
  ``dir`` is grading the gradient the tool's ``dir`` implies, value for value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import mpmath
import numpy as np

from ..cases import Case
from ..engines.base import Prepared
from ..errors import DiffcmpError
from ..grading.exact import Exact
from ..grading.floors import FloorFinder
from ..grading.grade import Floors, Outcome
from ..grading.kinks import Sides
from ..registry import get_engine
from ..run.evaluate import _graders, _outcome, _settle  # the run's own steps, not copies
from ..run.second import tangent
from ..status import Status
from ..symbolic.problem import lower

#: How close ``H v`` and ``diag * v`` must be, relative, for the Hessian to count as diagonal
#: (both are certified to 15 digits or more; off the diagonal the gap is of order 1).
DIAGONAL_CHECK = 1e-12


@dataclass(frozen=True)
class Expected:
    """One function's reference: the values, their names and floors, and the reference's
    outcome shaped for :func:`~diffcmp.grading.grade.grade` (its ``grad`` the values)."""

    names: list[str]
    outcome: Outcome
    floors: Floors
    #: The one-sided derivatives where the point is a kink (gradient only).
    sides: Sides = field(default_factory=Sides.none)


@dataclass
class Reference:
    """The certified reference at one input, computed once for every function asked there."""

    case: Case
    #: Seconds the reference took (derivation, certification, independent check, floors).
    seconds: float = 0.0
    #: Why there is no reference (``""`` when there is one).
    error: str = ""
    outcome: Outcome = field(default_factory=Outcome)
    floors: Floors = field(default_factory=Floors)
    sides: Sides = field(default_factory=Sides.none)
    components: list[str] = field(default_factory=list)
    #: kmeans: the Hessian's diagonal as an Outcome (certified), or why there is none.
    diagonal: Outcome | None = None

    @classmethod
    def at(cls, case: Case, newton: bool = False, independent: bool = True) -> Reference:
        """The reference for ``case`` at its point (with the Hessian's diagonal for
        ``newton``), checked by the independent derivation unless ``independent`` is false
        (the values are then certified by their balls, the derivation unchecked); a failure
        is recorded in ``error``, never raised."""
        start = time.perf_counter()
        try:
            found = cls._compute(case, newton, independent)
        except DiffcmpError as exc:
            found = cls(case, error=str(exc))
        except Exception as exc:  # the reference failing is a row, as in a run (_attempt)
            found = cls(case, error=f"{type(exc).__name__}: {exc}")
        found.seconds = time.perf_counter() - start
        return found

    @classmethod
    def _compute(cls, case: Case, newton: bool, independent: bool) -> Reference:
        problem = lower(case)
        engine = get_engine("reference")
        x = problem.point
        with engine.running():
            prepared = engine.prepare(problem)
            outcome = _outcome(prepared, x)
            detector, _, crosscheck = _graders(problem)
            sides = detector.sides(x) if detector else Sides.none()
            outcome = _settle(outcome, x, sides.kink, sides.left, sides.right,
                              crosscheck if independent else None, problem.components)
            diagonal = _diagonal(prepared, x, problem.components, sides) if newton and \
                outcome.status is None else None
        floors = FloorFinder(problem).at(x)
        return cls(case, outcome=outcome, floors=floors, sides=sides,
                   components=problem.components, diagonal=diagonal)

    def value(self, name: str = "primal") -> Expected:
        """The loss as a one-value vector named ``name`` (the function's)."""
        out = self.outcome
        exact = None if out.exact is None else Exact(out.exact.values[:1] * 2,
                                                     out.exact.bounds[:1] * 2)
        return Expected([name], replace(out, grad=np.array([out.loss]), exact=exact),
                        Floors(loss=self.floors.loss, grad=np.array([self.floors.loss]),
                               source=self.floors.source))

    def gradient(self) -> Expected:
        """The gradient, with the kink's sides where the point is one."""
        return Expected(self.components, self.outcome, self.floors, self.sides)

    def newton_direction(self) -> Expected:
        """The gradient divided by the Hessian's diagonal (kmeans' ``dir``; module docstring)."""
        out, diagonal = self.outcome, self.diagonal
        if diagonal is None or diagonal.status is not None:
            why = diagonal.message if diagonal is not None else "no Hessian diagonal"
            status = diagonal.status if diagonal is not None and diagonal.status else \
                Status.UNRESOLVED
            return Expected(self.components, Outcome(loss=out.loss, status=status,
                                                     message=why), self.floors)
        if out.status is not None or out.grad is None:
            return Expected(self.components, out, self.floors)
        d = diagonal.grad
        grad_texts = out.exact.values[1:] if out.exact is not None else [repr(g) for g in
                                                                          out.grad]
        diag_texts = diagonal.exact.values[1:] if diagonal.exact is not None else \
            [repr(v) for v in d]
        bounds = out.bounds()[1:]
        with mpmath.workdps(40):
            quotients = [mpmath.mpf(g) / mpmath.mpf(h) for g, h in
                         zip(grad_texts, diag_texts, strict=True)]
            limits = [None if not np.isfinite(b) else mpmath.mpf(float(b)) / abs(mpmath.mpf(h))
                      for b, h in zip(bounds, diag_texts, strict=True)]
            exact = Exact.of([mpmath.mpf(out.loss), *quotients], [None, *limits])
        values = np.array([float(q) for q in quotients])
        digits = None if out.digits is None else out.digits - 1
        grad_floors = self.floors.grad if self.floors.grad is not None else \
            np.ones(len(values))
        floors = Floors(loss=self.floors.loss, grad=np.abs(grad_floors / d),
                        source=f"{self.floors.source}; divided by the Hessian's diagonal")
        return Expected(self.components, replace(out, grad=values, exact=exact, digits=digits),
                        floors, self.sides)


def _diagonal(prepared: Prepared, x: np.ndarray, components: list[str],
              sides: Sides) -> Outcome:
    """The Hessian's diagonal as the certified product along ones, checked against a second
    product along a seeded random vector (module docstring)."""
    if sides.kink or sides.left.size:
        return Outcome(status=Status.KINK, message="a switch sits at this point (a tie between "
                       "nearest centroids): the Hessian's diagonal is one-sided there")
    phase = prepared.phases.get("hvp")
    if phase is None:
        return Outcome(status=Status.UNRESOLVED, message="the reference has no Hessian-vector "
                       "product for this loss")
    inputs = prepared.inputs(x)

    def product(v: np.ndarray) -> tuple[np.ndarray, Exact | None]:
        details = prepared.details
        details.clear()
        values = phase.read(phase.call(inputs, prepared.inputs(v)))
        certified = details.get("certified")
        return values, None if certified is None else Exact.of(certified.values,
                                                               certified.bounds)

    ones, exact = product(np.ones(len(components)))
    v = tangent(len(components))
    along, _ = product(v)
    gap = np.abs(along - ones * v) / np.maximum(np.abs(along) + np.abs(ones * v), 1e-300)
    if np.any(gap > DIAGONAL_CHECK):
        k = int(np.argmax(gap))
        return Outcome(status=Status.UNRESOLVED, message=(
            f"the Hessian is not diagonal here: (H v)[{components[k]}] = {along[k]:.12g}, but "
            f"diag * v = {ones[k] * v[k]:.12g}; dir = gradient / diagonal has no reference"))
    if np.any(ones == 0):
        k = int(np.flatnonzero(ones == 0)[0])
        return Outcome(status=Status.UNDEFINED, message=f"the Hessian's diagonal is 0 at "
                       f"{components[k]}: dir divides by it")
    return Outcome(grad=ones, exact=exact)
