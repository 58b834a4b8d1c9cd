"""Explain: the backward pass of the tutorial, node by node, checked against PyTorch.

Backpropagation in three steps, on the loss's computational graph (every distinct SymPy
subexpression is a node):

1. forward pass: compute every node's value, up to the loss;
2. local gradients: at each node, the derivative with respect to each of its inputs;
3. backward pass: from the loss back to the parameters, each node's gradient dLoss/dnode is the
   sum over the nodes it feeds of their dLoss/dnode times the local gradient (the chain rule).

Every number is computed at 50 significant digits from SymPy's own rules, and every dLoss/dnode
is set beside PyTorch's gradient for the same node (``retain_grad`` on each intermediate tensor).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sympy as sp

from .cases import Case
from .errors import DiffcmpError
from .grading.grade import rho
from .symbolic.graph import backpropagate, local_gradients, topological
from .symbolic.problem import Problem, lower
from .symbolic.translate import compile_sympy

#: Explanations are for graphs a person can read.
MAX_NODES = 200
DIGITS = 50
#: PyTorch's node gradient agrees when rho to the 50-digit value is at most this.
TOLERANCE = 1e-10


@dataclass
class Node:
    """One node of the computational graph."""

    name: str
    expr: sp.Basic
    operation: str
    value: sp.Float
    local: list[tuple[str, sp.Float]]
    #: Whether the node depends on a parameter (the others' gradients are not needed).
    needed: bool = True
    adjoint: sp.Float = field(default_factory=lambda: sp.Float(0))
    torch: float = float("nan")


@dataclass
class Explanation:
    """The graph of one case at one point, in forward order (inputs first, the loss last)."""

    case: str
    point: dict[str, float]
    nodes: list[Node]
    data: dict[str, float]

    def table(self) -> pd.DataFrame:
        """One row per node: operation, value, local gradients, dLoss/dnode and PyTorch's."""
        return pd.DataFrame([{
            "node": n.name, "operation": n.operation, "value": float(n.value),
            "local gradients": ", ".join(f"d{n.name}/d{c} = {_short(v)}" for c, v in n.local),
            "dloss/dnode": float(n.adjoint), "torch": n.torch,
            "agrees": bool(rho(float(n.adjoint), n.torch) <= TOLERANCE),
        } for n in self.nodes])

    def to_text(self) -> str:
        """The three steps as text, the way the tutorial tells them."""
        at = ", ".join(f"{k} = {_short(v)}" for k, v in self.point.items())
        if self.data and len(self.data) <= 12:
            at += " (data: " + ", ".join(f"{k} = {_short(v)}" for k, v in self.data.items()) + ")"
        inner = [n for n in self.nodes if n.operation]
        width = max(len(f"{n.name} = {n.operation}") for n in inner)
        lines = [f"{self.case} at {at}", "", "1. Forward pass: compute the loss, node by node."]
        lines += [f"   {(n.name + ' = ' + n.operation).ljust(width)}   = {_short(n.value)}"
                  for n in inner]
        lines += ["", "2. Local gradients: each node with respect to its inputs (those with "
                  "respect to data are not needed: data are fixed)."]
        needed = {n.name for n in self.nodes if n.needed}
        lines += [f"   d{n.name}/d{child} = {_short(value)}" for n in inner if n.needed
                  for child, value in n.local if child in needed]
        lines += ["", "3. Backward pass: dLoss/dnode by the chain rule, from the loss back to the "
                  "inputs, beside PyTorch's gradient for the same node."]
        for n in reversed([n for n in self.nodes if n.needed]):
            mark = "agrees" if rho(float(n.adjoint), n.torch) <= TOLERANCE else "DIFFERS"
            lines.append(f"   dLoss/d{n.name} = {_short(n.adjoint)}   torch {n.torch:.12g}   "
                         f"{mark}")
        return "\n".join(lines)


def _short(value: object) -> str:
    number = float(value)
    return f"{number:.12g}"


def explain(case: Case, point: int = 0) -> Explanation:
    """Walk ``case``'s backward pass at point ``point`` (0: the case's own point)."""
    problem = lower(case)
    points = problem.points()
    if not 0 <= point < len(points):
        raise DiffcmpError(f"{case.where}: no point {point} (the case has {len(points)})")
    order = [n for n in topological(problem.loss)
             if isinstance(n, sp.Expr) and not n.is_Number and n not in (sp.pi, sp.E)]
    if len(order) > MAX_NODES:
        raise DiffcmpError(f"{case.where}: the graph has {len(order)} nodes; explain shows at "
                           f"most {MAX_NODES}")
    values = _values(problem, points[point])
    names = _names(order, problem.loss)
    nodes = {}
    for node in order:
        local = [(child, _evaluate(expr, values)) for child, expr in local_gradients(node)]
        nodes[node] = Node(names[node], node, _operation(node, names),
                           _evaluate(node, values),
                           [(names.get(child, str(child)), v) for child, v in local])
    def local(node: sp.Basic) -> list[tuple[sp.Basic, sp.Float]]:
        return [(child, value) for (child, _), (_, value) in
                zip(local_gradients(node), nodes[node].local, strict=True) if child in nodes]

    adjoints = backpropagate(order, problem.loss, local, sp.Float(1, DIGITS),
                             lambda parts: sp.Add(*parts))
    for node, adjoint in adjoints.items():
        nodes[node].adjoint = adjoint
    params = set(problem.param_symbols)
    for node, entry in nodes.items():
        entry.needed = bool(node.free_symbols & params)
    _torch_gradients(problem, points[point], order, nodes)
    shown = {name: float(v) for name, v in zip(problem.components, points[point], strict=True)}
    data = {name: float(v) for var in problem.data for name, v in
            zip(var.components, problem.data_values[var.name].ravel(), strict=True)}
    return Explanation(case.name, shown, [nodes[n] for n in order], data)


def _values(problem: Problem, x: np.ndarray) -> dict[sp.Symbol, sp.Float]:
    data = [v for values in problem.data_values.values() for v in values.ravel()]
    return {s: sp.Float(float(v), DIGITS)
            for s, v in zip([*problem.param_symbols, *problem.data_symbols], [*x, *data],
                            strict=True)}


def _evaluate(expr: sp.Basic, values: dict[sp.Symbol, sp.Float]) -> sp.Float:
    result = sp.sympify(expr).xreplace(values).evalf(DIGITS)
    if not result.is_Number:
        raise DiffcmpError(f"cannot evaluate {expr} at the point")
    return result


def _names(order: list[sp.Basic], loss: sp.Expr) -> dict[sp.Basic, str]:
    names: dict[sp.Basic, str] = {}
    count = 0
    for node in order:
        if node.is_Symbol:
            names[node] = node.name
        elif node == loss:
            names[node] = "loss"
        else:
            count += 1
            names[node] = f"n{count}"
    return names


def _operation(node: sp.Basic, names: dict[sp.Basic, str]) -> str:
    if node.is_Symbol:
        return ""
    args = [names.get(a, str(a)) for a in node.args]
    if isinstance(node, sp.Add):
        return " + ".join(args)
    if isinstance(node, sp.Mul):
        return " * ".join(args)
    if isinstance(node, sp.Pow):
        return f"{args[0]} ** {args[1]}"
    return f"{type(node).__name__}({', '.join(args)})"


def _torch_gradients(problem: Problem, x: np.ndarray, order: list[sp.Basic],
                     nodes: dict[sp.Basic, Node]) -> None:
    import torch

    from .ops.torch import OPS

    symbols = [*problem.param_symbols, *problem.data_symbols]
    program = compile_sympy(problem.loss, OPS, symbols)
    data = [v for values in problem.data_values.values() for v in values.ravel()]
    inputs = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
              for v in [*x, *data]]
    memory = program.trace(inputs)
    for value in memory:
        if isinstance(value, torch.Tensor) and value.requires_grad and not value.is_leaf:
            value.retain_grad()
    memory[program.result].backward()
    for node in order:
        tensor = memory[program.slots[node]]
        if isinstance(tensor, torch.Tensor) and tensor.grad is not None:
            nodes[node].torch = float(tensor.grad)
