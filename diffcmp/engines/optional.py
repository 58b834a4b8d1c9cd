"""Frameworks that come with an optional extra (issue 20): an engine over one imports it through
:func:`require`, so that a missing extra makes that engine ``unsupported`` with the command that
installs it, never an import error (the engine's module itself imports no framework)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

from ..errors import UnsupportedError

#: Installs every optional framework at once.
ALL_EXTRAS = "engines"


def require(module: str, extra: str) -> ModuleType:
    """``module`` imported; :class:`~diffcmp.errors.UnsupportedError` naming the extra that
    brings it (``pip install 'diffcmp[EXTRA]'``) where it is not installed or fails to import."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UnsupportedError(
            f"{module} is not installed ({exc}): install diffcmp[{ALL_EXTRAS}] or "
            f"diffcmp[{extra}] (pip install -e '.[{extra}]' in a clone)") from None


class OptionalOps(Mapping[str, Callable[..., Any]]):
    """The ``OPS`` table of a module that imports an optional framework (``diffcmp.ops.NAME``),
    imported on first use after :func:`require`: an engine's class attribute that imports
    nothing, and is :class:`~diffcmp.errors.UnsupportedError` naming the extra when read where
    the framework is missing."""

    def __init__(self, table: str, module: str, extra: str) -> None:
        self.table, self.module, self.extra = table, module, extra
        self._ops: Mapping[str, Callable[..., Any]] | None = None

    def load(self) -> Mapping[str, Callable[..., Any]]:
        """The table (its framework and module imported on the first call)."""
        if self._ops is None:
            require(self.module, self.extra)
            self._ops = importlib.import_module(self.table).OPS
        return self._ops

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return self.load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.load())

    def __len__(self) -> int:
        return len(self.load())


__all__ = ["ALL_EXTRAS", "OptionalOps", "require"]
