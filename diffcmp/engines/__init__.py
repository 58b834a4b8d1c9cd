"""Engines: one module per engine behind the small interface of :mod:`~diffcmp.engines.base`,
listed in one registry (:mod:`diffcmp.registry`)."""

from ..registry import (
    DEFAULT_ENGINES,
    ENGINE_NAMES,
    REGISTRY,
    engine_class,
    engine_names,
    get_engine,
)
from .base import Engine, Prepared

__all__ = ["DEFAULT_ENGINES", "ENGINE_NAMES", "REGISTRY", "Engine", "Prepared", "engine_class",
           "engine_names", "get_engine"]
