"""A case lowered for the engines: symbols, shapes, the SymPy loss and its exact gradient.

:func:`lower` turns a :class:`~diffcmp.cases.Case` into a :class:`Problem`. Every engine builds its
loss from the problem with its own op table (:meth:`Problem.loss_function`): from the case's
expression when it came from a TOML file (array code stays array code), otherwise by translating
the SymPy expression node by node.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from .. import lang
from ..cases import Case
from ..errors import CaseError, ExpressionError
from ..matcalc import graph
from ..matcalc.derive import ArrayGradient
from ..matcalc.derive import derive as derive_arrays
from ..matcalc.table import GRAPH_OPS
from ..ops import sympy as sympy_ops
from . import translate
from .derive import Gradient, derive


def component_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """Names of an array's elements, row-major: ``w``, ``w[0]``, ``W[1,2]`` (no spaces)."""
    if shape == ():
        return [name]
    return [f"{name}[{','.join(map(str, index))}]" for index in np.ndindex(*shape)]


def vector(name: str, n: int) -> sp.Matrix:
    """A column of ``n`` real symbols named ``name[0] ... name[n-1]`` (for Python cases)."""
    return sp.Matrix([sp.Symbol(c, real=True) for c in component_names(name, (n,))])


def matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """A ``rows x cols`` matrix of real symbols named ``name[i,j]`` (for Python cases)."""
    names = component_names(name, (rows, cols))
    return sp.Matrix(rows, cols, [sp.Symbol(c, real=True) for c in names])


@dataclass(frozen=True)
class Variable:
    """A param or data entry: its name, shape and the SymPy symbol of each element."""

    name: str
    shape: tuple[int, ...]
    symbols: tuple[sp.Symbol, ...]

    @property
    def components(self) -> list[str]:
        """Element names, row-major."""
        return component_names(self.name, self.shape)

    def as_sympy(self) -> Any:
        """The symbol, or an object array of symbols of this variable's shape."""
        if self.shape == ():
            return self.symbols[0]
        return np.array(self.symbols, dtype=object).reshape(self.shape)


class Problem:
    """A case ready for the engines (built by :func:`lower`)."""

    def __init__(self, case: Case, params: list[Variable], data: list[Variable],
                 loss: sp.Expr, expression: lang.Expression | None) -> None:
        self.case = case
        self.params = params
        self.data = data
        self.loss = loss
        self.expression = expression
        self.point = np.concatenate([case.params[v.name].ravel() for v in params])
        self.data_values = {v.name: case.data[v.name] for v in data}
        self.components = [c for v in params for c in v.components]
        self.param_symbols = tuple(s for v in params for s in v.symbols)
        self.data_symbols = tuple(s for v in data for s in v.symbols)
        self._sizes = list(itertools.accumulate([int(np.prod(v.shape)) for v in params]))
        #: Index of each parameter's first component in the flat point and gradient.
        self.offsets = dict(zip([v.name for v in params], [0, *self._sizes[:-1]], strict=True))

    @property
    def name(self) -> str:
        """The case's name."""
        return self.case.name

    @cached_property
    def gradient(self) -> Gradient:
        """The exact SymPy gradient (derived once, shared by ``reference`` and ``sympy``)."""
        return derive(self.loss, self.param_symbols)

    @cached_property
    def array_gradient(self) -> ArrayGradient:
        """The loss as written, as an array graph, and its vectorised gradient (matrix calculus,
        :mod:`diffcmp.matcalc`): derived once, whatever the size of the data."""
        leaves = {v.name: graph.var(v.name, v.shape, role)
                  for role, variables in (("param", self.params), ("data", self.data))
                  for v in variables}
        loss = self.loss_function(GRAPH_OPS)(leaves)
        return derive_arrays(loss, [leaves[v.name] for v in self.params])

    def environment(self, x: Any) -> dict[str, np.ndarray]:
        """Every param (from the flat point ``x``) and data array by name, float64."""
        return {**self.data_values, **self.split(np.asarray(x, dtype=np.float64))}

    def split(self, x: Any) -> dict[str, Any]:
        """A flat parameter vector (NumPy) as ``{name: array of the parameter's shape}``."""
        parts = np.split(np.asarray(x), self._sizes[:-1])
        return {v.name: part.reshape(v.shape) for v, part in zip(self.params, parts, strict=True)}

    def points(self) -> list[np.ndarray]:
        """The case's own point, then ``sample.count`` points drawn with ``sample.seed``."""
        points = [self.point]
        sample = self.case.sample
        if sample is not None:
            rng = np.random.default_rng(sample.seed)
            points += [rng.uniform(sample.low, sample.high, self.point.size)
                       for _ in range(sample.count)]
        return points

    def loss_function(self, ops: Mapping[str, Callable[..., Any]]) -> Callable[[Mapping[str, Any]],
                                                                               Any]:
        """The loss as ``f(env) -> scalar`` over one backend's ``ops``.

        ``env`` maps every param and data name to a backend array of its shape.
        """
        shapes = {v.name: v.shape for v in [*self.params, *self.data]}
        if self.expression is not None:
            return lang.compile_expression(self.expression, ops, shapes)
        variables = [*self.params, *self.data]
        program = translate.compile_sympy(self.loss, ops, [s for v in variables
                                                             for s in v.symbols])
        index = ops["index"]
        elements = [(v.name, None if v.shape == () else list(np.ndindex(*v.shape)))
                    for v in variables]

        def f(env: Mapping[str, Any]) -> Any:
            values: list[Any] = []
            for name, indices in elements:
                value = env[name]
                if indices is None:
                    values.append(value)
                else:
                    values.extend(index(value, i) for i in indices)
            return program(values)

        return f


def lower(case: Case) -> Problem:
    """Build the :class:`Problem` of ``case``: symbols, the SymPy loss, checks on both."""
    if isinstance(case.loss, str):
        return _lower_expression(case)
    return _lower_sympy(case)


def _variables(values: Mapping[str, np.ndarray]) -> list[Variable]:
    return [Variable(name, array.shape,
                     tuple(sp.Symbol(c, real=True) for c in component_names(name, array.shape)))
            for name, array in values.items()]


def _lower_expression(case: Case) -> Problem:
    expression = lang.parse(case.loss, case.where)
    params, data = _variables(case.params), _variables(case.data)
    env = {v.name: v.as_sympy() for v in [*params, *data]}
    shapes = {v.name: v.shape for v in [*params, *data]}
    function = lang.compile_expression(expression, sympy_ops.OPS, shapes)
    try:
        loss = function(env)
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
        raise ExpressionError(f"cannot be built symbolically: {exc}", case.where) from None
    loss = sp.sympify(loss)
    # the written loss uses a parameter (checked with the case); SymPy's rewriting of it may not
    # (exp(a) * exp(-a) is 1): its gradient is then zero where the written loss is defined
    _check_depends(case, loss, params, written=True)
    return Problem(case, params, data, loss, expression)


def _lower_sympy(case: Case) -> Problem:
    loss = case.loss
    by_name = {s.name: s for s in loss.free_symbols if isinstance(s, sp.Symbol)}
    variables = []
    for values in (case.params, case.data):
        variables.append([
            Variable(name, array.shape,
                     tuple(by_name.pop(c, None) or sp.Symbol(c, real=True)
                           for c in component_names(name, array.shape)))
            for name, array in values.items()])
    if by_name:
        stray = sorted(by_name)[0]
        raise CaseError(f"the loss uses symbol '{stray}', which is neither a param nor data "
                        "(vector elements are named like 'w[0]', matrix ones 'W[1,2]')",
                        case.where)
    params, data = variables
    _check_depends(case, loss, params)
    return Problem(case, params, data, loss, None)


def _check_depends(case: Case, loss: sp.Expr, params: list[Variable],
                   written: bool = False) -> None:
    if not isinstance(loss, sp.Expr):
        raise CaseError(f"the loss is not a scalar expression ({type(loss).__name__})",
                        case.where)
    if not written and not loss.free_symbols & {s for v in params for s in v.symbols}:
        raise CaseError("the loss depends on no parameter: its gradient is identically zero",
                        case.where)

