"""The vectorised symbolic gradient: reverse mode over the loss's array graph, each step one
vector-Jacobian rule (:mod:`diffcmp.matcalc.rules`) applied to graph nodes.

The result is another array graph, the gradient in matrix-calculus form (``2 * (X.T @ (X @ w -
y))`` for least squares): derived once, at a cost that does not grow with the data, and evaluated
by any backend (:mod:`diffcmp.matcalc.evaluate`). The backward pass is the tutorial's: walking the
graph from the loss back to the parameters, each node's adjoint (d loss / d node) is the sum over
the nodes it feeds of their adjoint through the local derivative.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import UnsupportedError
from . import graph as g
from . import table as t
from .graph import Node, topological
from .rules import NO_ADJOINT, VJP, Namespace, Rule

#: The namespace rules build graph nodes with (numbers become constants).
GRAPH = Namespace(t.GRAPH_OPS, g.lift)


def depends(order: Sequence[Node], leaves: Sequence[Node]) -> set[int]:
    """The ids of the nodes of ``order`` that depend on any of ``leaves``."""
    found = {id(leaf) for leaf in leaves}
    for node in order:
        if any(id(arg) in found for arg in node.args):
            found.add(id(node))
    return found


def backward(loss: Node, params: Sequence[Node],
             rules: Mapping[str, Rule] = VJP) -> dict[int, Node]:
    """Adjoints (d loss / d node, as graph nodes seeded with :func:`~diffcmp.matcalc.graph.seed`)
    of every node on a path from ``params`` to ``loss``, by node id, built by ``rules``."""
    order = topological([loss])
    needed = depends(order, params)
    adjoints: dict[int, Node] = {id(loss): g.seed()}
    for node in reversed(order):
        adjoint = adjoints.get(id(node))
        if adjoint is None or node.op in NO_ADJOINT or not node.args:
            continue
        rule = rules.get(node.op)
        if rule is None:
            raise UnsupportedError(f"no vector-Jacobian rule for '{node.op}'")
        parts = rule(GRAPH, adjoint, node, *node.args, *node.raw)
        for arg, part in zip(node.args, parts, strict=True):
            if part is None or id(arg) not in needed:
                continue
            part = t.sum_to(part, arg.shape) if part.shape != arg.shape else part
            known = adjoints.get(id(arg))
            adjoints[id(arg)] = part if known is None else known + part
    return adjoints


def rebuild(roots: Sequence[Node], replace: dict[int, Node]) -> list[Node]:
    """``roots`` rebuilt with the nodes of ``replace`` (by id) substituted, every node through its
    builder again, so that the substitution simplifies (the seed as 1 drops the factors 1)."""
    new: dict[int, Node] = {}
    for node in topological(roots):
        if id(node) in replace:
            new[id(node)] = replace[id(node)]
            continue
        args = [new[id(a)] for a in node.args]
        if all(a is b for a, b in zip(args, node.args, strict=True)):
            new[id(node)] = node
        elif node.op in t.LISTED:
            new[id(node)] = t.GRAPH_OPS[node.op](args, *node.raw)
        else:
            new[id(node)] = t.GRAPH_OPS[node.op](*args, *node.raw)
    return [new[id(root)] for root in roots]


@dataclass(frozen=True)
class ArrayGradient:
    """The loss's array graph and its vectorised gradient, one graph per parameter."""

    loss: Node
    params: tuple[Node, ...]
    grads: tuple[Node, ...]
    #: Seconds the derivation took.
    derive_s: float

    @property
    def outputs(self) -> list[Node]:
        """``[loss, *grads]``: what one evaluation computes (sharing every common node)."""
        return [self.loss, *self.grads]


def derive(loss: Node, params: Sequence[Node],
           rules: Mapping[str, Rule] = VJP) -> ArrayGradient:
    """The vectorised gradient of ``loss`` in each of ``params`` (leaf nodes), seed set to 1,
    by ``rules`` (:data:`~diffcmp.matcalc.rules.VJP`, or the forms float64 engines compute,
    :data:`~diffcmp.matcalc.rules.FLOAT64_FORMS`)."""
    start = time.perf_counter()
    adjoints = backward(loss, params, rules)
    grads = [adjoints.get(id(p)) for p in params]
    zero_shapes = {id(p): t.broadcast_to(g.const(0), p.shape) for p, d in zip(
        params, grads, strict=True) if d is None}
    grads = [d if d is not None else zero_shapes[id(p)] for p, d in zip(params, grads,
                                                                         strict=True)]
    # the seed is 1: substitute it, so that factors of 1 drop out
    finished = rebuild([loss, *grads], {id(g.seed()): g.const(1)})
    return ArrayGradient(finished[0], tuple(params), tuple(finished[1:]),
                         time.perf_counter() - start)


@dataclass(frozen=True)
class ArrayHvp:
    """The Hessian-vector product of a loss at array level: reverse mode over the inner product
    of the vectorised gradient with a tangent (one leaf per parameter), so the product is
    another array graph (``X.T @ (X @ v_w)`` for least squares), derived once, whatever the
    size; the Hessian's column ``j`` is the product with the ``j``-th unit vector."""

    loss: Node
    params: tuple[Node, ...]
    #: The tangent's leaves, one per parameter, of its shape.
    tangents: tuple[Node, ...]
    #: ``H v`` in each parameter, one graph per parameter.
    products: tuple[Node, ...]
    #: Seconds the second derivation took.
    derive_s: float

    @property
    def outputs(self) -> list[Node]:
        """``[loss, *products]``: what one evaluation computes."""
        return [self.loss, *self.products]


def hvp(gradient: ArrayGradient, tangents: Sequence[Node],
        rules: Mapping[str, Rule] = VJP) -> ArrayHvp:
    """The Hessian-vector product graphs of ``gradient``'s loss along ``tangents`` (leaf nodes
    of the parameters' shapes): reverse mode again, over ``sum(grad * tangent)`` (Pearlmutter's
    reverse-over-reverse), by ``rules``."""
    start = time.perf_counter()
    inner: Node | None = None
    for grad, tangent in zip(gradient.grads, tangents, strict=True):
        term = t.reduction("sum", grad * tangent) if grad.shape else grad * tangent
        inner = term if inner is None else inner + term
    if inner is None:
        raise UnsupportedError("the loss has no parameter: there is no Hessian")
    second = derive(inner, list(gradient.params), rules)
    return ArrayHvp(gradient.loss, gradient.params, tuple(tangents), second.grads,
                    time.perf_counter() - start)
