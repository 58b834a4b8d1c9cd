"""Frameworks that come with an optional extra (issue 20): an engine over one imports it through
:func:`require`, so that a missing extra makes that engine ``unsupported`` with the command that
installs it, never an import error (the engine's module itself imports no framework)."""

from __future__ import annotations

import importlib
from types import ModuleType

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


__all__ = ["ALL_EXTRAS", "require"]
