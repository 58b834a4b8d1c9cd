"""Declared statuses: what a case says to expect of an engine (``[expect.status]``, and its
second-order tables), and whether a row fails the run given it."""

from __future__ import annotations

from collections.abc import Mapping

from ..precision import split_variant
from ..status import SEVERITY, Status


def fails(status: str, declared: str | None) -> bool:
    """Whether a row fails the run: a failing status not declared, or a declared one not seen
    (``declared``: what :func:`declaration` says for the row)."""
    if declared:
        return status != declared
    return Status(status).fails


def declaration(declared: Mapping[str, str], engine: str, status: str,
                allow_undefined: bool = False) -> str | None:
    """What a case declares for one row of ``engine`` with ``status``: the engine's own
    ``[expect.status]`` entry (in ``declared``, the case's); else, for an ``undefined`` row,
    ``undefined`` when the case declares the reference undefined (every engine's row at such a
    point repeats the reference's verdict, and is covered by its declaration) or the run allows
    undefined points (``allow_undefined=True`` in Python); else ``None``."""
    own = own_declaration(declared, engine)
    if own:
        return own
    if status == Status.UNDEFINED and (allow_undefined
                                       or declared.get("reference") == Status.UNDEFINED):
        return Status.UNDEFINED.value
    return None


def own_declaration(declared: Mapping[str, str], engine: str) -> str | None:
    """What ``declared`` (a case's ``[expect.status]``) says of ``engine``: its own entry, or
    for an engine in another dtype (``torch[float32]``, issue 21) without one, its engine's
    (``torch``): a failure such as a ``where`` trap is the same in every dtype, and a dtype that
    differs says so with an entry of its own (``"torch[float32]" = "nan"``)."""
    own = declared.get(engine)
    if own:
        return own
    base = split_variant(engine)[0]
    return declared.get(base) if base != engine else None


def rank(status: str, declared: str | None) -> tuple[bool, int]:
    """How bad a row is, for picking the worst of several: failing the run outranks
    everything, then :data:`~diffcmp.status.SEVERITY`."""
    return fails(status, declared), SEVERITY.get(Status(status), 5)


def declared_key(engine: str, derivative: str) -> str:
    """The key a declared status is kept under beside the others of its case: the engine's
    name for the gradient (``[expect.status]``), ``engine:hessian`` and ``engine:hvp`` for the
    second-order ones (``[expect.hessian_status]``, ``[expect.hvp_status]``)."""
    return engine if derivative == "gradient" else f"{engine}:{derivative}"


def declared_for(declared: Mapping[str, str], derivative: str) -> Mapping[str, str]:
    """A case's declarations (kept by :func:`declared_key`) that apply to ``derivative``'s
    rows, by engine; a point where the loss is undefined is declared once, for the gradient,
    and covers the second-order rows too."""
    if derivative == "gradient":
        return declared
    suffix = declared_key("", derivative)
    own = {name[:-len(suffix)]: value for name, value in declared.items()
           if name.endswith(suffix)}
    if "reference" in declared and "reference" not in own:
        own["reference"] = declared["reference"]
    return own
