"""The one small interface every engine implements.

An engine turns a :class:`~diffcmp.symbolic.problem.Problem` into a :class:`Prepared`:
callables for the loss alone and for loss-and-gradient, on inputs already converted to the
engine's own types, so that timing measures exactly what a user of that framework would run in
a loop.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..grading.grade import Floors
from ..precision import DEFAULT_DEVICE, DEFAULT_DTYPE
from ..symbolic.problem import Problem


@dataclass
class Phase:
    """A derivative an engine offers beyond the gradient (:data:`PHASES`), made ready for one
    problem: ``call(inputs, *tangent)`` computes it in the engine's own types (and waits for
    it), ``read(call(...))`` returns it as flat float64: the Hessian row-major (``n * n``), a
    Hessian-vector product ``n`` values. ``tangent`` is the direction of a product, converted
    by the engine's ``inputs`` like a point."""

    call: Callable[..., Any]
    read: Callable[[Any], np.ndarray]


#: The second-order phases an engine may offer (:attr:`Prepared.phases`), in report order:
#: the full Hessian, and its product with a vector.
PHASES = ("hessian", "hvp")


@dataclass
class Prepared:
    """An engine made ready for one problem.

    ``inputs(x)`` converts a flat float64 parameter vector into the engine's inputs;
    ``loss(inputs)`` and ``grad(inputs)`` compute (and wait for) the loss, and the loss with its
    gradient; ``read(grad(inputs))`` returns ``(loss, flat float64 gradient)``.
    ``prepare_s`` names each preparation step (derive, lambdify, trace, compile, first call) and
    the seconds it took.
    """

    inputs: Callable[[np.ndarray], Any]
    loss: Callable[[Any], Any]
    grad: Callable[[Any], Any]
    read: Callable[[Any], tuple[float, np.ndarray]]
    prepare_s: dict[str, float] = field(default_factory=dict)
    #: What the last call found out beyond its values (the reference: ``digits``, the
    #: precision it certified).
    details: dict[str, Any] = field(default_factory=dict)
    #: Second-order phases by name (``"hessian"``, ``"hvp"``): built on their first call, so a
    #: first-order run pays nothing for them (their preparation lands in ``prepare_s``).
    phases: dict[str, Phase] = field(default_factory=dict)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss and flat gradient at the flat point ``x``, as float64."""
        return self.read(self.grad(self.inputs(x)))

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one preparation step into ``prepare_s[name]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.prepare_s[name] = self.prepare_s.get(name, 0.0) + time.perf_counter() - start


class Engine(ABC):
    """A way to compute a loss and its gradient, graded against the reference."""

    #: The name used in every table and on the command line; what the engine is (its summary,
    #: default tolerance and the tolerance's source) is registered under it
    #: (:data:`diffcmp.registry.REGISTRY`).
    name: ClassVar[str]
    #: Whether the engine's gradient at a kink is a subgradient up to float64 rounding (it
    #: differentiates), so that its touched components are also checked together, pair by pair
    #: (:attr:`diffcmp.grading.kinks.Sides.pairs`). Not for finite differences: each of their
    #: components averages its own two sides with an ``O(h)`` bias from the kink, which is
    #: within every component's interval but not along a pair whose two sides agree.
    subgradient: ClassVar[bool] = True
    #: What it computes: the gradient always, ``"hessian"`` and ``"hvp"`` where its ``prepare``
    #: adds those :attr:`Prepared.phases` (second order: ``unsupported`` otherwise).
    offers: ClassVar[frozenset[str]] = frozenset({"gradient"})

    def __init__(self, threads: int = 1, dtype: str = DEFAULT_DTYPE,
                 device: str = DEFAULT_DEVICE) -> None:
        #: Intra-op threads; the dtype the engine computes in (``float64``, or ``float32``,
        #: ``bfloat16`` for the engines of :data:`~diffcmp.precision.DTYPE_RULES`: the column
        #: ``torch[float32]``); the device (``cpu``, or ``cuda`` for PyTorch's and JAX's).
        self.threads = threads
        self.dtype = dtype
        self.device = device
        if dtype != DEFAULT_DTYPE:  # second derivatives are graded in float64 only
            self.offers = frozenset({"gradient"})

    @classmethod
    def start(cls) -> None:
        """Create what the engine's library makes once per process (thread pools), as a worker
        starts: before its memory limit applies and outside any case's timings. Nothing by
        default."""
        return

    def running(self) -> AbstractContextManager[None]:
        """Settings in force while this engine prepares, evaluates and is timed (restored after);
        none by default."""
        return nullcontext()

    def floors(self, floors: Floors, x: np.ndarray, tolerance: float) -> Floors:
        """The floors this engine is graded above at ``x`` (see
        :mod:`diffcmp.grading.floors`): the case's, unless the method adds rounding of its own
        (central differences divide the loss's rounding by their step)."""
        return floors

    def second_floors(self, floors: Floors, first: Floors, x: np.ndarray, tolerance: float,
                      phase: str, v: np.ndarray) -> Floors:
        """The floors this engine's second-order ``phase`` (``"hessian"``, ``"hvp"`` along
        ``v``) is graded above at ``x``: the product's own (``floors``), unless the method adds
        rounding of its own; ``first`` are the case's first-order floors at ``x``."""
        return floors

    @abstractmethod
    def prepare(self, problem: Problem) -> Prepared:
        """Build this engine's loss and gradient for ``problem``.

        Raises :class:`~diffcmp.errors.UnsupportedError` when the engine cannot express the loss.
        """


def unflatten_to(problem: Problem, convert: Callable[[np.ndarray], Any]) -> Callable[
        [np.ndarray], dict[str, Any]]:
    """``inputs`` for engines that take ``{name: array}``: split ``x`` and convert each part."""
    return lambda x: {name: convert(part) for name, part in problem.split(x).items()}
