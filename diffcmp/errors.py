"""diffcmp's own exception types.

The library raises these; the command line turns them into ``error: ...`` on stderr and an exit
code in one place (:func:`diffcmp.cli.main`).
"""

from __future__ import annotations


class DiffcmpError(Exception):
    """Base class of every error diffcmp raises on purpose."""


class CaseError(DiffcmpError):
    """A case file or case definition is malformed; the message names the file and the problem."""

    def __init__(self, message: str, source: str | None = None) -> None:
        self.source = source
        self.detail = message
        super().__init__(f"{source}: {message}" if source else message)


class ExpressionError(CaseError):
    """The loss expression is outside the language, or evaluates to something invalid."""

    def __init__(self, message: str, source: str | None = None, column: int | None = None) -> None:
        self.column = column
        where = f" (column {column})" if column is not None else ""
        super().__init__(f"loss{where}: {message}", source)


class UnsupportedError(DiffcmpError):
    """An engine cannot express this loss (for example complex step on ``abs``)."""


class OutputError(DiffcmpError):
    """A report folder cannot be written without losing something the user wrote."""


class UndefinedError(DiffcmpError):
    """The loss or its gradient is undefined at the point (``log(0)``, ``1/0``, ``sqrt(-1)``).

    ``loss`` holds the loss's value when only the gradient is undefined (NaN otherwise).
    """

    def __init__(self, message: str, loss: float = float("nan")) -> None:
        self.loss = loss
        super().__init__(message)


class SkippedError(DiffcmpError):
    """An engine chose not to run on this case: it would take far longer than it is worth (the
    scalar SymPy gradient of a large array loss); the message gives the estimate."""


class UndecidedError(DiffcmpError):
    """A comparison of two balls that overlap (ball arithmetic): at this precision neither
    ``a < b`` nor ``a >= b`` can be proven, so a ``where`` cannot pick its branch."""


class UnboundedError(UndecidedError):
    """A finite value whose ball is unbounded at this precision (``exp`` of a ball whose radius
    is in the hundreds): more digits may bound it."""


class UnresolvedError(DiffcmpError):
    """The reference did not settle: at the precision ceiling its last two evaluations still
    differ, so no engine can be graded at this point."""
