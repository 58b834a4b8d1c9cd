"""GradBench's evals as diffcmp knows them: each eval's functions, its inputs (GradBench's own
generators, reproduced), and its loss, one case-language definition graded by the usual
machinery.

GradBench's evals draw their inputs from NumPy's legacy generator seeded once per eval
(``np.random.seed(31337)``), one draw per size in the order it runs them, so an input is
GradBench's own only if every input before it is drawn too: :func:`gradbench_inputs` does
exactly that. The sources (GradBench's repository, ``python/gradbench/gradbench/evals/``):

* ``lse/run.py``: ``x = np.random.rand(n)`` for ``n`` in 2,500, 5,000, ... 1,280,000;
  functions ``primal`` (``LSE(x)``) and ``gradient`` (``softmax(x)``), input ``{"x"}``;
* ``llsq/run.py``: ``x = np.random.rand(m)`` for ``(n, m)`` in ``n`` 16, 32, ... 16,392 and
  ``m`` 128, sorted by ``n * m``; input ``{"x", "n"}``; the loss (``cpp/gradbench/evals/
  llsq.hpp``) ``0.5 * sum_i (sign(t_i) - sum_j x_j t_i**j)**2`` at ``t_i = -1 + i * 2 / (n -
  1)``, computed in float64 as there;
* ``det/run.py``: ``A = np.random.rand(ell * ell)`` for ``ell`` 5 ... 11; input ``{"A"`` (flat,
  row-major)``, "ell"}``; the determinant and its gradient, row-major;
* ``kmeans/run.py``: ``points = np.random.rand(n, d)``, ``centroids = points[-k:]`` for ``(k,
  n, d)`` in ``k`` 10, 100, 1,000, ``n`` 1,000, 10,000, ``d`` 8, 16, sorted by ``k * n * d``;
  input ``{"points", "centroids"}``; ``cost`` (the sum over points of the squared distance to
  the nearest centroid) and ``dir``: the gradient divided by the Hessian's diagonal
  (``evals/kmeans/README.md``: ``J * H^-1``, ``H`` diagonal), so each centroid minus the mean of
  its points.

The losses are the built-in cases' (``cases/gradbench/lse.toml``, ``cases/sweeps/llsq.toml``;
kmeans the built-in case's per-dimension distances for any ``d``, det the determinant that
``cases/gradbench/det.toml`` writes out by minors for ``ell = 5``): tests/test_gradbench_protocol.py
holds them to those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cases import Case
from ..errors import DiffcmpError

#: GradBench's seed, the same in every eval (``np.random.seed(31337)  # For determinism.``).
SEED = 31337
#: GradBench's defaults for how often a tool runs a function (``--min-runs``, ``--min-seconds``).
MIN_RUNS = 1
MIN_SECONDS = 1.0

#: ``cases/gradbench/lse.toml``'s loss: the max-shifted log-sum-exp, as lse.hpp computes it.
LSE = "max(x) + log(sum(exp(x - max(x))))"
#: ``cases/sweeps/llsq.toml``'s loss (its ``j`` here ``m`` long).
LLSQ = "0.5 * sum((sign(t) - (reshape(t, (-1, 1)) ** reshape(j, (1, -1))) @ x)**2)"
#: The determinant (GradBench computes it by minors; the value and gradient are the same).
DET = "det(A)"
#: kmeans.hpp's objective: per point, the squared distance to the nearest centroid, the
#: differences squared per dimension and summed (no expansion, no cancellation).
KMEANS = "sum(min(sum((expand_dims(P, 1) - expand_dims(C, 0))**2, axis=2), axis=1))"


@dataclass(frozen=True)
class Input:
    """One of an eval's inputs: GradBench's ``input`` and ``description``, and the case whose
    reference grades the tool's answers there."""

    eval: str
    #: GradBench's description of the input (``"n=2500"``, ``"k=10,n=1000,d=8"``).
    description: str
    #: The ``input`` field of the ``evaluate`` message, without ``min_runs``/``min_seconds``.
    payload: dict[str, Any]
    #: The loss at this input, its params GradBench's differentiated values (``None`` where
    #: the case cannot be made: ``error`` says why).
    case: Case | None
    error: str = ""


@dataclass(frozen=True)
class Eval:
    """One GradBench eval: its module name, its two functions and how each answer is read."""

    name: str
    #: The function whose output is the loss (``primal``, ``cost``).
    value: str
    #: The function whose output is the derivative (``gradient``, ``dir``).
    derivative: str
    #: Whether the derivative is the gradient divided by the Hessian's diagonal (kmeans' dir).
    newton: bool
    #: GradBench's sizes, in the order it draws them: each a tuple of its size parameters.
    sizes: tuple[tuple[int, ...], ...]
    #: One input at one size from the shared generator: (description, payload, case).
    make: Callable[[np.random.RandomState, tuple[int, ...]], tuple[str, dict[str, Any], Case]]

    @property
    def functions(self) -> tuple[str, str]:
        """The functions GradBench asks for, in its order."""
        return (self.value, self.derivative)

    def shape(self, function: str, item: Input) -> tuple[int, ...]:
        """The shape GradBench's answer to ``function`` at ``item`` has: ``()`` for the value,
        the params' layout for the derivative (det's flat, kmeans' ``k x d``)."""
        if function == self.value:
            return ()
        (values,) = item.case.params.values() if item.case is not None else ([],)
        values = np.asarray(values)
        return (values.size,) if self.name == "det" else values.shape


def _description(name: str, text: str) -> str:
    return f"GradBench's {name} eval at {text} (its own generator: np.random.seed({SEED}))"


def _lse(rng: np.random.RandomState, size: tuple[int, ...]) -> tuple[str, dict[str, Any], Case]:
    (n,) = size
    x = rng.rand(n)
    case = Case(name=f"gradbench_lse_n{n}", loss=LSE, params={"x": x},
                description=_description("lse", f"n = {n}"), tags=("gradbench",))
    return f"n={n}", {"x": x.tolist()}, case


def llsq_t(n: int) -> np.ndarray:
    """llsq.hpp's ``t(i, n) = -1 + i * 2 / (n - 1)``, in float64 as there."""
    return np.array([-1 + i * 2 / (n - 1) for i in range(n)], dtype=np.float64)


def _llsq(rng: np.random.RandomState, size: tuple[int, ...]) -> tuple[str, dict[str, Any], Case]:
    n, m = size
    x = rng.rand(m)
    case = Case(name=f"gradbench_llsq_n{n}_m{m}", loss=LLSQ, params={"x": x},
                data={"t": llsq_t(n), "j": np.arange(m)},
                description=_description("llsq", f"n = {n}, m = {m}"), tags=("gradbench",))
    return f"n={n},m={m}", {"x": x.tolist(), "n": n}, case


def _det(rng: np.random.RandomState, size: tuple[int, ...]) -> tuple[str, dict[str, Any], Case]:
    (ell,) = size
    a = rng.rand(ell * ell)
    case = Case(name=f"gradbench_det_ell{ell}", loss=DET, params={"A": a.reshape(ell, ell)},
                description=_description("det", f"ell = {ell}"), tags=("gradbench",))
    return f"{ell}", {"A": a.tolist(), "ell": ell}, case


def _kmeans(rng: np.random.RandomState, size: tuple[int, ...]) -> tuple[str, dict[str, Any],
                                                                          Case]:
    k, n, d = size
    points = rng.rand(n, d)
    centroids = points[-k:]  # "This guarantees each cluster is nonempty."
    case = Case(name=f"gradbench_kmeans_k{k}_n{n}_d{d}", loss=KMEANS,
                params={"C": centroids.copy()}, data={"P": points},
                description=_description("kmeans", f"k = {k}, n = {n}, d = {d}"),
                tags=("gradbench",))
    payload = {"points": points.tolist(), "centroids": centroids.tolist()}
    return f"k={k},n={n},d={d}", payload, case


def _sorted(combinations: list[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    """GradBench's order: by the product of the sizes, ties kept in the listed order."""
    return tuple(sorted(combinations, key=lambda v: int(np.prod(v))))


#: The evals, by GradBench's module names, with GradBench's default sizes.
EVALS: dict[str, Eval] = {
    "lse": Eval("lse", "primal", "gradient", False,
                tuple((n,) for n in (2500, 5000, 10000, 20000, 40000, 80000, 160000, 320000,
                                     640000, 1280000)), _lse),
    "llsq": Eval("llsq", "primal", "gradient", False,
                 _sorted([(n, m) for n in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8196,
                                           16392) for m in (128,)]), _llsq),
    "det": Eval("det", "primal", "gradient", False,
                tuple((ell,) for ell in (5, 6, 7, 8, 9, 10, 11)), _det),
    "kmeans": Eval("kmeans", "cost", "dir", True,
                   _sorted([(k, n, d) for k in (10, 100, 1000) for n in (1000, 10000)
                            for d in (8, 16)]), _kmeans),
}


def find_evals(names: str | list[str] | None) -> list[Eval]:
    """The evals named (comma-separated text or a list; every one for ``None``), in the order
    given; :class:`DiffcmpError` names an unknown one."""
    if names is None:
        return list(EVALS.values())
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    wanted = [n for n in wanted if n]
    unknown = [n for n in wanted if n not in EVALS]
    if unknown:
        raise DiffcmpError(f"unknown eval {unknown[0]!r} (known: {', '.join(EVALS)})")
    if not wanted:
        raise DiffcmpError(f"no eval named (known: {', '.join(EVALS)})")
    return [EVALS[n] for n in dict.fromkeys(wanted)]


def gradbench_inputs(evaluation: Eval, count: int = 1) -> Iterator[Input]:
    """The first ``count`` of ``evaluation``'s inputs, drawn as GradBench draws them (every
    earlier one drawn first, from one generator seeded with :data:`SEED`). A case that cannot
    be made (over diffcmp's limits) is an input without a case, its ``error`` saying why."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise DiffcmpError(f"the number of inputs must be a positive whole number, not {count!r}")
    rng = np.random.RandomState(SEED)
    for size in evaluation.sizes[:count]:
        try:
            description, payload, case = evaluation.make(rng, size)
        except DiffcmpError as exc:  # drawn all the same: the next input is GradBench's
            yield Input(evaluation.name, ",".join(map(str, size)), {}, None, str(exc))
            continue
        yield Input(evaluation.name, description, payload, case)
