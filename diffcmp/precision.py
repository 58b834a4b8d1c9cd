"""Precisions and devices an engine may run in (issue 21): ``--dtype`` and ``--device``.

A dtype is a property of an engine *instance*, not an engine of its own: ``torch[float32]`` is
the ``torch`` engine run in float32, one column of the tables beside ``torch`` (float64). A
float64 engine keeps its plain name, so a run in float64 alone (the default) names every column
as before. Only the engines of :data:`diffcmp.registry.DTYPE_RULES` run in other dtypes; the
reference, ``sympy``, ``matcalc`` and ``fd-complex`` stay float64.

Each dtype's unit roundoff ``u`` (half the machine epsilon: ``fl(x) = x (1 + d)``, ``|d| <= u``;
Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., 2002, sec. 2.1, table 2.1)
sets its tolerances and its finite-difference steps. A device (``cpu``, ``cuda``) is where the
PyTorch and JAX engines compute; the others always run on the CPU.

Imports nothing heavy (NumPy and ml_dtypes, for rounding, on first use): the registry and the
settings read it.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from .errors import DiffcmpError

if TYPE_CHECKING:  # named only: reading settings (the registry, config) imports no NumPy
    import numpy as np

#: The dtypes an engine may run in, widest first; float64 is every engine's own.
DTYPES = ("float64", "float32", "bfloat16")
DEFAULT_DTYPE = "float64"
#: Unit roundoff of each dtype: 2**-p for a p-bit significand (53, 24, 8).
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "bfloat16": 2.0**-8}
#: Where the PyTorch and JAX engines compute.
DEVICES = ("cpu", "cuda")
DEFAULT_DEVICE = "cpu"

_VARIANT = re.compile(r"^(?P<base>.+)\[(?P<dtype>[a-z0-9]+)\]$")


#: How far an engine computing in a low precision may be from the truth, in units of that
#: precision's unit roundoff u times the graded value's floor: the floors are the first-order
#: running error bound of the loss as written and its gradient (each operation rounded once,
#: ``fl(x op y) = (x op y)(1 + d)``, ``|d| <= u``, the inputs' conversion counted; Higham,
#: Accuracy and Stability of Numerical Algorithms, 2nd ed., 2002, secs. 2.2 and 3.3), and 64
#: leaves room for library functions a few ulps off (elementary functions, fused kernels) and
#: other summation orders. float64's 1e-10 scaled by u(float32) / u(float64) = 2**29 would be
#: 0.054 (a gradient 5% off would pass), because 1e-10 is about 1e6 float64 ulps of room.
ROUNDING_ROOM = 64
#: The engines that run in other dtypes (``torch[float32]``) and how their tolerance follows
#: the dtype: ``"rounding"`` (:data:`ROUNDING_ROOM` times u), ``"central"`` (central
#: differences: the float64 tolerance times ``(eps / eps64)**(2/3)``, the order of their error
#: at the step ``cbrt(eps)``). The other engines stay float64.
DTYPE_RULES = {"torch": "rounding", "torch-fwd": "rounding", "jax": "rounding",
               "jax-fwd": "rounding", "fd-central": "central"}
#: The dtypes central differences run in: in bfloat16 their tolerance would be above 1 (float64's
#: 1e-6 times (2**45)**(2/3)), where every finite value passes, so there is no column to grade.
CENTRAL_DTYPES = ("float64", "float32")
#: The engines ``--device`` moves (PyTorch's and JAX's); the others compute on the CPU.
DEVICE_ENGINES = frozenset({"torch", "torch-fwd", "jax", "jax-fwd"})


def dtype_tolerance(engine: str, dtype: str, tolerance: float) -> tuple[float, str]:
    """The tolerance of ``engine`` (whose float64 tolerance is ``tolerance``) run in ``dtype``,
    and where it comes from (:data:`DTYPE_RULES`)."""
    u = unit_roundoff(dtype)
    if DTYPE_RULES.get(engine) == "central":
        scale = (u / unit_roundoff(DEFAULT_DTYPE)) ** (2 / 3)
        return tolerance * scale, (
            f"central differences in {dtype}, step cbrt(eps) with eps = 2u = {2 * u:.3g}: "
            f"error O(eps^(2/3)), so float64's {tolerance:g} times (u / u(float64))^(2/3) = "
            f"{scale:.3g}, the same room for curvature (Nocedal & Wright, sec. 8.1); the "
            "floors add the quotient's own rounding, 4 u B / h")
    return ROUNDING_ROOM * u, (
        f"{ROUNDING_ROOM} u with u = {u:.3g}, the unit roundoff of {dtype}: an error within "
        f"{dtype} rounding of the case's floor (its first-order rounding bound, the inputs' "
        f"conversion to {dtype} counted) is precision-limited, not wrong (Higham, Accuracy and "
        "Stability of Numerical Algorithms, secs. 2.2, 3.3; the module diffcmp.precision says "
        f"why {ROUNDING_ROOM})")


def engine_device(name: str, device: str) -> str:
    """Where the engine column ``name`` computes in a run on ``device``: there for PyTorch's and
    JAX's engines, on the CPU for every other."""
    return device if split_variant(name)[0] in DEVICE_ENGINES else DEFAULT_DEVICE


def expand_dtypes(engines: tuple[str, ...], dtypes: tuple[str, ...]) -> tuple[str, ...]:
    """``engines`` with each engine of :data:`DTYPE_RULES` run in every one of ``dtypes``
    (``torch`` -> ``torch``, ``torch[float32]``), the others as they are, each name once."""
    out: list[str] = []
    for name in engines:
        expanded = [name]
        if name in DTYPE_RULES:
            expanded = [variant_name(name, d) for d in dtypes if supports(name, d)]
        out.extend(e for e in expanded if e not in out)
    return tuple(out)


def supports(engine: str, dtype: str) -> bool:
    """Whether ``engine`` runs in ``dtype`` (:data:`DTYPE_RULES`, :data:`CENTRAL_DTYPES`)."""
    rule = DTYPE_RULES.get(engine)
    return dtype == DEFAULT_DTYPE or (rule is not None and dtype in DTYPES and (
        rule != "central" or dtype in CENTRAL_DTYPES))


def variant_name(engine: str, dtype: str) -> str:
    """The column name of ``engine`` run in ``dtype``: ``torch[float32]``; float64 keeps the
    engine's own name (``torch``)."""
    return engine if dtype == DEFAULT_DTYPE else f"{engine}[{dtype}]"



def split_variant(name: str) -> tuple[str, str]:
    """``("torch", "float32")`` from ``torch[float32]``; ``(name, "float64")`` for any name
    without a known dtype in brackets (``torch``, the user's ``model[fwd]``)."""
    found = _VARIANT.match(name)
    if found and found["dtype"] in DTYPES and found["dtype"] != DEFAULT_DTYPE:
        return found["base"], found["dtype"]
    return name, DEFAULT_DTYPE


def parse_dtypes(text: str | Any) -> tuple[str, ...]:
    """``"float64,float32"`` (or a sequence of names) as a tuple of dtypes, each once, in the
    order given; :class:`DiffcmpError` for an unknown one or none."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    dtypes: list[str] = []
    for part in parts:
        name = str(part).strip()
        if not name:
            continue
        if name not in DTYPES:
            raise DiffcmpError(f"unknown dtype '{name}' (known: {', '.join(DTYPES)})")
        if name not in dtypes:
            dtypes.append(name)
    if not dtypes:
        raise DiffcmpError(f"no dtype given (known: {', '.join(DTYPES)})")
    return tuple(dtypes)


def check_device(device: str) -> str:
    """``device`` when it is one of :data:`DEVICES`, else :class:`DiffcmpError`."""
    if device not in DEVICES:
        raise DiffcmpError(f"unknown device '{device}' (known: {', '.join(DEVICES)})")
    return device


def unit_roundoff(dtype: str) -> float:
    """The unit roundoff of ``dtype`` (:data:`UNIT_ROUNDOFF`)."""
    return UNIT_ROUNDOFF[dtype]


def round_to(values: Any, dtype: str) -> np.ndarray:
    """``values`` rounded to ``dtype`` (to nearest, ties to even) and held as float64: what an
    engine computes with after converting them. float64 values are returned as they are."""
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    if dtype == DEFAULT_DTYPE:
        return array
    if dtype == "float32":
        return array.astype(np.float32).astype(np.float64)
    import ml_dtypes  # JAX's own dependency: NumPy's bfloat16

    return array.astype(ml_dtypes.bfloat16).astype(np.float64)


def _dtypes_argument(text: str) -> tuple[str, ...]:
    try:
        return parse_dtypes(text)
    except DiffcmpError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_precision_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line's ``--device`` and ``--dtype`` (``run`` and ``sweep``)."""
    parser.add_argument("--device", choices=DEVICES, default=DEFAULT_DEVICE,
                        help="where PyTorch's and JAX's engines compute (default cpu for both, "
                        "so a run compares like with like; JAX is pinned to the CPU unless "
                        "asked); cuda where it is absent: one line, exit 2")
    parser.add_argument("--dtype", type=_dtypes_argument, default=(DEFAULT_DTYPE,),
                        metavar="D,D", help="precisions the torch, torch-fwd, jax, jax-fwd and "
                        "fd-central (not bfloat16) engines run in, each a column of its own "
                        "(torch[float32]); float64, float32, bfloat16 (default float64: the plain "
                        "names)")


__all__ = [
    "CENTRAL_DTYPES",
    "DEFAULT_DEVICE",
    "DEFAULT_DTYPE",
    "DEVICES",
    "DEVICE_ENGINES",
    "DTYPES",
    "DTYPE_RULES",
    "ROUNDING_ROOM",
    "UNIT_ROUNDOFF",
    "add_precision_arguments",
    "check_device",
    "dtype_tolerance",
    "engine_device",
    "expand_dtypes",
    "parse_dtypes",
    "round_to",
    "split_variant",
    "supports",
    "unit_roundoff",
    "variant_name",
]
