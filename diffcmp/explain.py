"""Explain: the backward pass of the tutorial, node by node, on the loss as written, checked
against PyTorch.

Backpropagation in three steps, on the loss's computational graph: its array graph
(:mod:`diffcmp.matcalc`), whose nodes are the case's own sub-expressions (``X @ w``,
``tanh(...)``), named as the case names them (``[nodes]``: ``yhat = "w*x"``) or ``n1, n2...``:

1. forward pass: compute every node's value, up to the loss;
2. local gradients: at each node, its derivative with respect to each input (the vector-Jacobian
   rule of :mod:`diffcmp.matcalc.rules`; for an array node, the map from its adjoint ``g`` to its
   input's); inputs that are data need none;
3. backward pass: from the loss back to the parameters, each node's gradient dLoss/dnode is the
   sum over the nodes it feeds of their dLoss/dnode through the local gradient (the chain rule).

Every value is computed in ball arithmetic at ``DIGITS`` digits and every dLoss/dnode is set beside
PyTorch's gradient for the same node (``retain_grad`` on each intermediate tensor). Arrays are
summarised (shape, norm, first entries). :meth:`Explanation.to_mermaid` draws the same graph as a
Mermaid flowchart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .cases import Case
from .errors import DiffcmpError
from .grading.grade import rho
from .lang import compile_expression
from .lang.nodes import inline, parse_nodes
from .matcalc import graph as g
from .matcalc.derive import GRAPH, backward, depends, rebuild
from .matcalc.evaluate import Program
from .matcalc.graph import Node, topological
from .matcalc.printer import formula, formulas
from .matcalc.rules import NO_ADJOINT, VJP
from .matcalc.table import GRAPH_OPS
from .ops import arb as arb_ops
from .symbolic.problem import Problem, lower

#: The most nodes an explanation shows (an array graph is small; a scalarised one may not be).
MAX_NODES = 2000
DIGITS = 50
#: PyTorch's node gradient agrees when rho to the 50-digit value is at most this.
TOLERANCE = 1e-10
#: Entries of an array shown in a summary.
SHOWN = 4


@dataclass
class Local:
    """One local gradient: d node / d input as a formula (a map from the adjoint ``g`` for an
    array node) and, for a scalar, its value."""

    child: str
    formula: str
    value: str
    needed: bool


@dataclass
class Explained:
    """One node of the computational graph."""

    name: str
    operation: str
    shape: tuple[int, ...]
    value: np.ndarray
    locals: list[Local] = field(default_factory=list)
    #: Whether the node depends on a parameter (the others need no gradient).
    needed: bool = True
    data: bool = False
    adjoint: np.ndarray | None = None
    torch: np.ndarray | None = None

    @property
    def agrees(self) -> bool:
        """Whether PyTorch's gradient for this node matches dLoss/dnode."""
        if self.adjoint is None or self.torch is None:
            return not self.needed
        return bool(np.all(rho(self.torch, self.adjoint) <= TOLERANCE))


@dataclass
class Explanation:
    """The graph of one case at one point, in forward order (inputs first, the loss last)."""

    case: str
    point: dict[str, np.ndarray]
    data: dict[str, np.ndarray]
    nodes: list[Explained]
    edges: list[tuple[str, str, str, bool]]
    #: The whole backward pass as one formula per parameter (the vectorised gradient).
    formulas: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row per node: operation, value, local gradients, dLoss/dnode and PyTorch's."""
        return pd.DataFrame([{
            "node": n.name, "operation": n.operation, "shape": n.shape, "value": _plain(n.value),
            "local gradients": ", ".join(f"d{n.name}/d{loc.child} = {loc.formula}"
                                         for loc in n.locals if loc.needed),
            "dloss/dnode": _plain(n.adjoint), "torch": _plain(n.torch), "agrees": n.agrees,
        } for n in self.nodes])

    def to_text(self) -> str:
        """The three steps as text, the way the tutorial tells them."""
        lines = [f"{self.case} at {_assignments(self.point)}" + (
            f" (data: {_assignments(self.data)})" if self.data and len(self.data) <= 12 else ""),
            "", "1. Forward pass: compute the loss, node by node."]
        inner = [n for n in self.nodes if n.operation]
        width = max((len(f"{n.name} = {n.operation}") for n in inner), default=0)
        lines += [f"   {(n.name + ' = ' + n.operation).ljust(width)}   = {_show(n.value)}"
                  for n in inner]
        data = sorted({loc.child for n in inner for loc in n.locals if not loc.needed})
        note = (f" ({', '.join(data)} {'is' if len(data) == 1 else 'are'} data: not needed)"
                if data else "")
        lines += ["", f"2. Local gradients: each node with respect to its inputs{note}."]
        for n in reversed(inner):
            for loc in n.locals:
                if loc.needed:
                    shown = loc.formula if loc.formula == loc.value or not loc.value else (
                        f"{loc.formula} = {loc.value}")
                    lines.append(f"   d{n.name}/d{loc.child} = {shown}")
        lines += ["", "3. Backward pass: dLoss/dnode by the chain rule, from the loss back to "
                  "the inputs, beside PyTorch's gradient for the same node."]
        for n in reversed([n for n in self.nodes if n.needed]):
            mark = "agrees" if n.agrees else "DIFFERS"
            lines.append(f"   dLoss/d{n.name} = {_show(n.adjoint)}   torch {_show(n.torch)}   "
                         f"{mark}")
        if self.formulas:
            lines += ["", "The backward pass as formulas (the vectorised symbolic gradient):"]
            lines += [f"   {line}" for line in self.formulas]
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        """The graph as a Mermaid flowchart: inputs at the bottom, each node with its value and
        dLoss/dnode, each edge with its local gradient; data edges dashed."""
        ids = {n.name: f"n{k}" for k, n in enumerate(self.nodes)}
        lines = ["flowchart BT"]
        for n in self.nodes:
            label = f"{n.name} = {_show(n.value)}" if not n.operation else (
                f"{n.name} = {n.operation}<br/>= {_show(n.value)}")
            if n.data:
                label += "<br/>(data)"
            elif n.adjoint is not None:
                label += f"<br/>dLoss/d{n.name} = {_show(n.adjoint)}"
            lines.append(f'    {ids[n.name]}["{_quote(label)}"]')
        for child, parent, local, needed in self.edges:
            if needed:
                lines.append(f'    {ids[child]} -->|"{_quote(local)}"| {ids[parent]}')
            else:
                lines.append(f"    {ids[child]} -.-> {ids[parent]}")
        return "\n".join(lines)


def explain(case: Case, point: int = 0) -> Explanation:
    """Walk ``case``'s backward pass at point ``point`` (0: the case's own point)."""
    problem = lower(case)
    points = problem.points()
    if not 0 <= point < len(points):
        raise DiffcmpError(f"{case.where}: no point {point} (the case has {len(points)})")
    gradient = problem.array_gradient
    root = gradient.loss
    order = [n for n in topological([root]) if n.op not in ("const", "seed")]
    if len(order) > MAX_NODES:
        raise DiffcmpError(f"{case.where}: the graph has {len(order)} nodes; explain shows at "
                           f"most {MAX_NODES}")
    names = _names(problem, order, root)
    needed = depends(order, gradient.params)  # what a parameter moves: its edges need gradients
    adjoints = backward(root, gradient.params)
    values = _evaluate(problem, points[point], order, adjoints)
    torch = _torch_gradients(problem, points[point], order)
    explained, edges = [], []
    by_id = {id(n): n for n in order}
    for node in order:
        entry = Explained(
            names[id(node)], "" if node.op == "var" else formula(node, _others(names, node)),
            node.shape, values[id(node)], needed=("adjoint", id(node)) in values,
            data=node.op == "var" and node.raw[1] == "data")
        if id(node) in needed:
            entry.adjoint = values.get(("adjoint", id(node)))
            entry.torch = torch.get(id(node))
        for child, local in _locals(node, names, needed, problem, points[point]):
            entry.locals.append(local)
            if id(child) in by_id:
                edges.append((names[id(child)], entry.name, f"{local.formula}"
                              + (f" = {local.value}" if local.value and local.value !=
                                 local.formula else ""), local.needed))
        explained.append(entry)
    point_values = problem.split(points[point])
    shown = {f"dLoss/d{v.name}": d for v, d in zip(problem.params, gradient.grads, strict=True)}
    return Explanation(case.name, point_values, dict(problem.data_values), explained, edges,
                       formulas(shown))


def _names(problem: Problem, order: list[Node], root: Node) -> dict[int, str]:
    """Leaves by name, the case's named nodes by their names, the loss as ``loss``, the rest
    ``n1, n2...`` in forward order."""
    names = {id(n): n.label for n in order if n.op == "var"}
    case = problem.case
    if case.nodes:
        leaves = {n.label: n for n in order if n.op == "var"}
        leaves.update({v.name: g.var(v.name, v.shape, "param") for v in problem.params})
        leaves.update({v.name: g.var(v.name, v.shape, "data") for v in problem.data})
        parsed = parse_nodes(case.nodes, case.where)
        shapes = problem.shapes
        for name, expression in parsed.items():
            expanded = inline(expression, {k: v for k, v in parsed.items() if k != name})
            node = compile_expression(expanded, GRAPH_OPS, shapes, scalar=False)(leaves)
            names.setdefault(id(node), name)
    names.setdefault(id(root), "loss")
    count = 0
    for node in order:
        if id(node) not in names:
            count += 1
            names[id(node)] = f"n{count}"
    return names


def _others(names: dict[int, str], node: Node) -> dict[int, str]:
    """Every name but the node's own: a node's operation is written over its inputs' names."""
    return {k: v for k, v in names.items() if k != id(node)}


def _locals(node: Node, names: dict[int, str], needed: set[int], problem: Problem,
            x: np.ndarray) -> list[tuple[Node, Local]]:
    """The node's local gradient with respect to each input: the vector-Jacobian rule applied
    to an adjoint ``g`` (set to 1 for a scalar node, where it is the partial derivative)."""
    if node.op in NO_ADJOINT or not node.args or node.op not in VJP:
        return []
    adjoint = g.const(1) if node.shape == () else g.var("g", node.shape, "adjoint")
    parts = VJP[node.op](GRAPH, adjoint, node, *node.args, *node.raw)
    out = []
    for child, part in zip(node.args, parts, strict=True):
        if child.op == "const" or part is None:
            continue
        text = formula(part, names)
        value = ""
        if node.shape == () and child.shape == () and id(child) in needed:
            value = _show(_value(problem, x, part))
        if node.shape != ():
            text = f"g -> {text}"
        out.append((child, Local(names.get(id(child), formula(child, names)), text, value,
                                 id(child) in needed)))
    return out


def _value(problem: Problem, x: np.ndarray, node: Node) -> np.ndarray:
    with arb_ops.precision(DIGITS):
        env = {n: arb_ops.array(v) for n, v in problem.environment(x).items()}
        return _floats(Program([node]).compile(arb_ops.OPS, fresh_constants=True)(env)[0])


def _evaluate(problem: Problem, x: np.ndarray, order: list[Node],
              adjoints: dict[int, Node]) -> dict[Any, np.ndarray]:
    """Every node's value and every needed node's dLoss/dnode, in balls at ``DIGITS`` digits."""
    wanted = [(n, id(n)) for n in order] + [(a, ("adjoint", k)) for k, a in adjoints.items()]
    finished = rebuild([n for n, _ in wanted], {id(g.seed()): g.const(1)})
    with arb_ops.precision(DIGITS):
        env = {n: arb_ops.array(v) for n, v in problem.environment(x).items()}
        outputs = Program(finished).compile(arb_ops.OPS, fresh_constants=True)(env)
        values = [_floats(v) for v in outputs]
    return {key: value for (_, key), value in zip(wanted, values, strict=True)}


def _floats(value: Any) -> np.ndarray:
    return np.asarray(arb_ops.to_mpmath(value), dtype=object).astype(float)


def _torch_gradients(problem: Problem, x: np.ndarray, order: list[Node]) -> dict[int, np.ndarray]:
    """PyTorch's gradient of the loss for every node (``retain_grad`` on each intermediate)."""
    import torch

    from .ops.torch import OPS

    env = {name: torch.tensor(np.asarray(value, dtype=np.float64),
                              requires_grad=name in problem.offsets)
           for name, value in problem.environment(x).items()}
    tensors = Program(order).compile(OPS)(env)
    for tensor in tensors:
        if isinstance(tensor, torch.Tensor) and tensor.requires_grad and not tensor.is_leaf:
            tensor.retain_grad()
    loss = tensors[-1]
    if not loss.requires_grad:
        return {}
    loss.backward()
    return {id(node): t.grad.detach().numpy().astype(float) for node, t in zip(
        order, tensors, strict=True) if isinstance(t, torch.Tensor) and t.grad is not None}


def _plain(value: np.ndarray | None) -> Any:
    if value is None:
        return float("nan")
    return float(value) if np.ndim(value) == 0 else value


def _show(value: np.ndarray | None) -> str:
    """A value as text: a scalar to 12 digits; an array as its shape, norm and first entries."""
    if value is None:
        return "-"
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return f"{float(array):.12g}"
    flat = array.ravel()
    entries = ", ".join(f"{v:.6g}" for v in flat[:SHOWN]) + (", ..." if flat.size > SHOWN else "")
    return f"shape {array.shape}, norm {np.linalg.norm(flat):.6g}, [{entries}]"


def _assignments(values: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k} = {_show(v)}" for k, v in values.items())


def _quote(text: str) -> str:
    return text.replace('"', "#quot;")
