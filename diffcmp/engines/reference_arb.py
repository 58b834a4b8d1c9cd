"""``reference``: the loss as written and its exact gradient, in ball arithmetic at a precision
it certifies.

This is the truth every other engine is graded against. The gradient is the vectorised symbolic
one (:attr:`~diffcmp.symbolic.problem.Problem.array_gradient`): reverse mode over the loss as
written, so the reference differentiates what the case wrote (not SymPy's rewriting of it), needs
no element-by-element expansion at any size, and evaluates a ``where`` branch only where it is
selected. It is evaluated in Arb's ball arithmetic (:mod:`diffcmp.ops.arb`, python-flint): every
value comes with a radius that rigorously encloses the exact result, so the reference proves its
own digits (:mod:`~diffcmp.engines.certify`), and each operation is C code, fast enough for
millions of elements. The point's and the data's float64 values are taken exactly. Evaluation
starts at ``DPS`` digits and doubles until every value is proven (or two consecutive precisions
agree), up to the case's ``[reference] max_digits``; the digits it needed are recorded with every
point. Its derivation is checked independently at every smooth point
(:mod:`diffcmp.grading.crosscheck`). A Python case whose SymPy loss holds a function diffcmp
cannot translate is evaluated from SymPy's scalar gradient in mpmath instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np

from ..errors import UndefinedError, UnsupportedError
from ..matcalc.evaluate import Program
from ..matcalc.graph import topological
from ..matcalc.origin import arguments, leaf_element, origin
from ..matcalc.printer import formula
from ..ops import arb as arb_ops
from ..ops.mpmath import DPS
from ..symbolic.graph import short
from ..symbolic.problem import Problem
from .base import Engine, Phase, Prepared
from .certify import MAX_DIGITS, ProvenUndefinedError, certify


def flat(values: list[Any]) -> list[Any]:
    """The loss and every gradient element as one list of scalars."""
    out = []
    for value in values:
        if isinstance(value, np.ndarray):
            out.extend(value.ravel().tolist())
        else:
            out.append(value)
    return out


def _beyond(values: list[Any], names: list[str]) -> str:
    """Which certified values float64 cannot hold (``exp(710)``), as text; ``""`` if none. They
    exist, so the point is not undefined; every float64 engine overflows there."""
    over = [f"{name} is {mpmath.nstr(v, 8)}" for name, v in zip(names, values, strict=True)
            if not np.isfinite(float(v))]
    if not over:
        return ""
    more = f" (and {len(over) - 3} more)" if len(over) > 3 else ""
    return "; ".join(over[:3]) + more + ", beyond float64's range"


class ReferenceEngine(Engine):
    """The exact gradient in mpmath, at a certified precision."""

    offers = frozenset({"gradient", "hessian", "hvp"})

    name = "reference"

    def prepare(self, problem: Problem) -> Prepared:
        """Derive (shared with ``matcalc``), flatten the graphs for mpmath, convert the data; a
        Python case whose SymPy loss holds a function diffcmp cannot translate is evaluated from
        SymPy's scalar gradient instead (:func:`_scalar`)."""
        prepared = Prepared(inputs=None, loss=None, grad=None, read=self._read)
        try:
            both, alone, inputs = _vectorised(problem, prepared)
            vectorised = True
        except UnsupportedError:
            both, alone, inputs = _scalar(problem, prepared)
            vectorised = False
        ceiling = int(problem.case.reference.get("max_digits", MAX_DIGITS))
        names = ["the loss as written", *(f"the gradient's {c}" for c in problem.components)]

        def certified(function: Callable[[], list[Any]], args: Any, names: list[str],
                      derivative: str = "the gradient") -> list[Any]:
            """``function``'s values certified, with what they proved in ``details``."""
            try:
                found = certify(function, DPS, ceiling, names, derivative)
            except UndefinedError as exc:
                # the trace follows the loss and its gradient (a second-order value's origin
                # is the message's own)
                where = _where(problem, args, exc.digits) if isinstance(
                    exc, ProvenUndefinedError) and isinstance(args, dict) and (
                    exc.index == 0 or derivative == "the gradient") else ""
                message = f"{exc.what} is undefined: {where}" if where else str(exc)
                raise UndefinedError(message, _loss_or_nan(alone, args, ceiling)) from None
            prepared.details["digits"] = found.significant
            prepared.details["precision"] = found.digits
            prepared.details["certified"] = found
            prepared.details["overflow"] = _beyond(found.values, names)
            return found.values

        def grad(args: Any) -> list[Any]:
            return certified(lambda: flat(both(args)), args, names)

        if vectorised:
            prepared.phases.update(_second_order(problem, prepared, certified))

        def loss(args: Any) -> Any:
            digits = prepared.details.get("precision", DPS)
            with mpmath.workdps(digits), arb_ops.precision(digits):
                return flat(alone(args))[0]

        prepared.inputs, prepared.grad, prepared.loss = inputs, grad, loss
        return prepared

    @staticmethod
    def _read(values: list[Any]) -> tuple[float, np.ndarray]:
        """The certified values in float64: an infinity where one is beyond float64's range
        (``details["overflow"]`` says which, and what it is)."""
        return float(values[0]), np.array([float(v) for v in values[1:]], dtype=np.float64)


Evaluation = Callable[[Any], Any]


def _second_order(problem: Problem, prepared: Prepared,
                  certified: Callable[..., list[Any]]) -> dict[str, Phase]:
    """The exact Hessian and Hessian-vector product in ball arithmetic, certified like the
    gradient: the product's graphs (:attr:`~diffcmp.symbolic.problem.Problem.array_hvp`,
    derived and compiled on first use), the Hessian's column ``j`` the product with the
    ``j``-th unit vector. Each call returns ``[loss, *values]``."""
    compiled: list[Evaluation] = []
    components = problem.components
    n = len(components)

    def product() -> Evaluation:
        if not compiled:
            with prepared.step("derive hvp"):
                graphs = problem.array_hvp
            with prepared.step("compile hvp"):
                compiled.append(Program(graphs.outputs).compile(arb_ops.OPS,
                                                                fresh_constants=True))
        return compiled[0]

    def tangent(v: np.ndarray) -> dict[str, Any]:
        return {name: arb_ops.array(part)
                for name, part in problem.tangent_environment(v).items()}

    units: list[dict[str, Any]] = []
    hessian_names: list[str] = []

    def hessian(args: dict[str, Any]) -> list[Any]:
        run = product()
        if not units:  # on first use: n unit vectors, n * n names
            units.extend(tangent(np.eye(1, n, j).ravel()) for j in range(n))
            hessian_names.extend(["the loss as written", *(
                f"the Hessian's H[{a}, {b}]" for a in components for b in components)])

        def values() -> list[Any]:
            columns = [flat(run({**args, **unit})) for unit in units]
            return [columns[0][0], *(columns[j][1 + i] for i in range(n) for j in range(n))]

        return certified(values, args, hessian_names, "the Hessian")

    product_names = ["the loss as written", *(f"the Hessian-vector product's {c}"
                                              for c in components)]

    def hvp(args: dict[str, Any], direction: dict[str, Any]) -> list[Any]:
        run = product()
        along = {problem.tangent_names[v.name]: direction[v.name] for v in problem.params}
        return certified(lambda: flat(run({**args, **along})), args, product_names,
                         "the Hessian-vector product")

    def read(values: list[Any]) -> np.ndarray:
        return np.array([float(v) for v in values[1:]], dtype=np.float64)

    return {"hessian": Phase(hessian, read), "hvp": Phase(hvp, read)}


def _vectorised(problem: Problem, prepared: Prepared) -> tuple[Evaluation, Evaluation,
                                                                 Callable[[np.ndarray], Any]]:
    """``[loss, *grads]``, the loss alone, and the inputs, from the vectorised gradient."""
    gradient = problem.array_gradient
    prepared.prepare_s["derive arrays"] = gradient.derive_s
    with prepared.step("compile"):
        both = Program(gradient.outputs).compile(arb_ops.OPS, fresh_constants=True)
        alone = Program([gradient.loss]).compile(arb_ops.OPS, fresh_constants=True)
    with prepared.step("convert data"):
        data = {name: arb_ops.array(value) for name, value in problem.data_values.items()}

    def inputs(x: np.ndarray) -> dict[str, Any]:
        return {**data, **{n: arb_ops.array(v) for n, v in problem.split(x).items()}}

    return both, alone, inputs


def _scalar(problem: Problem, prepared: Prepared) -> tuple[Evaluation, Evaluation,
                                                             Callable[[np.ndarray], Any]]:
    """The same from SymPy's scalar gradient (``lambdify`` to mpmath), for a Python case whose
    loss holds a SymPy function diffcmp has no translation for: its SymPy expression is the
    loss as written."""
    steps = problem.gradient.steps()  # derive and cse, timed before and on their own
    with prepared.step("lambdify"):
        function, loss_only, floats = problem.lambdify("mpmath")
    prepared.prepare_s.update(steps)
    data = [mpmath.mpf(v) for v in floats]
    return (lambda x: function(*x, *data), lambda x: [loss_only(*x, *data)],
            lambda x: [mpmath.mpf(float(v)) for v in x])


#: How an operator's origin is written (``1 / 0``); other ops are written as calls (``log(0)``).
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


def _where(problem: Problem, env: dict[str, Any], digits: int) -> str:
    """Where a point proven undefined first becomes so, as text: the operation, its arguments
    and the parameter component it applies to (``log(0) at w[0]``), the sub-expression beside
    it; ``""`` when it cannot be traced."""
    try:
        outputs = problem.array_gradient.outputs
        nodes = topological(outputs)
        with mpmath.workdps(digits), arb_ops.precision(digits):
            values = Program(nodes).compile(arb_ops.OPS, fresh_constants=True)(env)
    except Exception:  # no trace: the message stays as it was, never a crash
        return ""
    value = {id(node): v for node, v in zip(nodes, values, strict=True)}
    found = next((f for f in (origin(root, value, arb_ops.is_undefined) for root in outputs)
                  if f is not None), None)
    if found is None:
        return ""
    node, args = found.node, arguments(found, value)
    written = short(formula(node), 50)
    if args is None:
        text = written
    else:
        shown = [_show(a) for a in args]
        text = (f"{shown[0]} {_INFIX[node.op]} {shown[1]}" if node.op in _INFIX and len(shown) == 2
                else f"{node.op}({', '.join(shown)})")
        if len(node.args) > 1 or any(a.op not in ("var", "const") for a in node.args):
            text += f" in {written}"
    leaf = leaf_element(found)
    if (leaf is None or len(node.args) > 1) and found.index:
        text += f", element {list(found.index)}"
    elif leaf is not None and len(node.args) == 1:
        name, index = leaf
        variable = next(v for v in problem.params if v.name == name)
        text += f" at {variable.components[np.ravel_multi_index(index, variable.shape)]}"
    return text


def _show(value: Any) -> str:
    """A ball's value, short: exact ones as the float they are (``0``, ``-1.5``)."""
    if isinstance(value, arb_ops.arb) and value.is_exact() and value.is_finite():
        number = float(arb_ops.to_mpmath(value))
        return f"{number:g}" if np.isfinite(number) else value.str(6)
    return value.str(6) if isinstance(value, arb_ops.arb) else str(value)


def _loss_or_nan(function: Evaluation, args: Any, ceiling: int) -> float:
    """The loss alone where only the gradient is undefined (``nan`` where it is too)."""
    try:
        certified = certify(lambda: flat(function(args)), DPS, ceiling, ["the loss as written"])
    except Exception:  # the loss is undefined too, or did not settle: no loss to show
        return float("nan")
    value = float(certified.values[0])
    return value if np.isfinite(value) else float("nan")
