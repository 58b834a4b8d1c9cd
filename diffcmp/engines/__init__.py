"""Engines: one module per engine behind the small interface of :mod:`~diffcmp.engines.base`,
listed in one registry (:mod:`diffcmp.registry`)."""

from ..registry import ENGINE_NAMES, REGISTRY, engine_class, engine_names, get_engine
from .base import Engine, Prepared

__all__ = ["ENGINE_NAMES", "REGISTRY", "Engine", "Prepared", "engine_class", "engine_names",
           "get_engine"]
