"""Plugins that go wrong, for tests/test_plugins.py: the demo engine with every gradient 1.5 times
too large, an engine that aborts its process as it prepares a case, one that aborts it as a
worker process starts the engine's library, a class that is not an
engine, and an op-table engine that lacks two of its methods; its fifth entry point names a module
that does not exist, its sixth a built-in engine's name."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from diffcmp_demo_engine import DemoEngine

from diffcmp import Engine, OpTableEngine, Prepared
from diffcmp.symbolic.problem import Problem


class AbortEngine(Engine):
    """Aborts the process (SIGABRT) as it prepares any case."""

    summary = "aborts its process"
    tolerance = 1e-10
    tolerance_source = "never graded: it crashes"

    def prepare(self, problem: Problem) -> Prepared:
        """Abort."""
        os.abort()


class AbortAtStart(AbortEngine):
    """Aborts the process (SIGABRT) as a worker starts it (before any case)."""

    summary = "aborts its process as it starts"

    @classmethod
    def start(cls) -> None:
        """Abort."""
        os.abort()


class Unfinished(OpTableEngine):
    """An op-table engine that says how to make arrays, but not how to differentiate nor how to
    read values back."""

    summary = "unfinished"
    tolerance = 1e-10
    tolerance_source = "none"

    def array(self, values: np.ndarray) -> np.ndarray:
        """The values as they are."""
        return values


class NotAnEngine:
    """Has an engine's attributes, but is no subclass of diffcmp.Engine."""

    summary = "not an engine"
    tolerance = 1e-10
    tolerance_source = "none"


class WrongEngine(DemoEngine):
    """The demo engine with every gradient 1.5 times too large."""

    summary = "the demo plugin, every gradient 1.5 times too large"

    def value_and_grad(self, loss: Callable[[tuple[Any, ...]], Any]) -> Callable[
            [tuple[Any, ...]], tuple[Any, Sequence[Any]]]:
        """The demo's, scaled by 1.5."""
        right = super().value_and_grad(loss)

        def wrong(params: tuple[Any, ...]) -> tuple[Any, Sequence[Any]]:
            value, grads = right(params)
            return value, tuple(1.5 * g for g in grads)

        return wrong
