"""A case lowered for the engines: shapes, the loss as written as an array graph, and, on demand,
the loss in SymPy with its exact scalar gradient.

:func:`lower` turns a :class:`~diffcmp.cases.Case` into a :class:`Problem`. Every engine builds its
loss from the problem with its own op table (:meth:`Problem.loss_function`): from the case's
expression when it came from a TOML file (array code stays array code), otherwise by translating
the SymPy expression node by node. The SymPy form of a TOML loss, one scalar expression per
element, is built only when something asks for it (the ``sympy`` engine): the reference, the
array engine and the graders work on the array graph (:attr:`Problem.array_gradient`), whatever
the size of the data.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from .. import lang
from ..cases import Case
from ..errors import CaseError, ExpressionError, UnsupportedError
from ..lang.gather import valued_shapes
from ..lang.nodes import inline, parse_nodes
from ..matcalc import graph
from ..matcalc.derive import ArrayGradient, ArrayHvp
from ..matcalc.derive import derive as derive_arrays
from ..matcalc.derive import hvp as derive_hvp
from ..matcalc.rules import FLOAT64_FORMS
from ..matcalc.table import GRAPH_OPS
from ..ops import sympy as sympy_ops
from . import translate
from .derive import Gradient, derive
from .graph import tree_ops
from .lambdify import lambdify_cse


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


class Variable:
    """A param or data entry: its name, shape and (made on first use) the SymPy symbol of each
    element."""

    def __init__(self, name: str, shape: tuple[int, ...],
                 symbols: tuple[sp.Symbol, ...] | None = None) -> None:
        self.name, self.shape = name, tuple(shape)
        if symbols is not None:
            self.__dict__["symbols"] = symbols

    @cached_property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        """One real symbol per element, named like :func:`component_names`."""
        return tuple(sp.Symbol(c, real=True) for c in self.components)

    @property
    def size(self) -> int:
        """The number of elements."""
        return int(np.prod(self.shape))

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
                 loss: sp.Expr | None, expression: lang.Expression | None) -> None:
        self.case = case
        self.params = params
        self.data = data
        self.expression = expression
        if loss is not None:
            self.__dict__["loss"] = loss
        self.point = np.concatenate([case.params[v.name].ravel() for v in params])
        self.data_values = {v.name: case.data[v.name] for v in data}
        self.components = [c for v in params for c in v.components]
        self._sizes = list(itertools.accumulate([v.size for v in params]))
        #: Index of each parameter's first component in the flat point and gradient.
        self.offsets = dict(zip([v.name for v in params], [0, *self._sizes[:-1]], strict=True))

    @cached_property
    def loss(self) -> sp.Expr:
        """The loss in SymPy, one scalar expression over every element's symbol (built on first
        use). Raises :class:`ExpressionError` when SymPy cannot build it, or when it would take
        more than ``MAX_SCALAR_OPS`` scalar operations."""
        if self.scalar_ops > lang.MAX_SCALAR_OPS:
            raise ExpressionError(
                f"takes about {self.scalar_ops:,} scalar operations written out element by "
                f"element (SymPy's scalar form); the limit is {lang.MAX_SCALAR_OPS:,}",
                self.case.where)
        env = {v.name: v.as_sympy() for v in [*self.params, *self.data]}
        try:
            loss = sp.sympify(self.loss_function(sympy_ops.OPS)(env))
        except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
            raise ExpressionError(f"cannot be built symbolically: {exc}", self.case.where) \
                from None
        _check_depends(self.case, loss, self.params, written=True)
        return loss

    @cached_property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every param's and datum's shape, the data's with their values (an index is read from
        them when the loss is compiled)."""
        return valued_shapes({v.name: np.empty(v.shape) for v in self.params}, self.data_values)

    @cached_property
    def param_symbols(self) -> tuple[sp.Symbol, ...]:
        """Every parameter element's symbol, in the order of the flat point."""
        return tuple(s for v in self.params for s in v.symbols)

    @cached_property
    def data_symbols(self) -> tuple[sp.Symbol, ...]:
        """Every data element's symbol."""
        return tuple(s for v in self.data for s in v.symbols)

    @cached_property
    def scalar_ops(self) -> int:
        """Operations the loss takes written out element by element (what the SymPy form
        costs): counted from the shapes for a loss string, from the expression otherwise."""
        if self.expression is not None:
            return lang.analyze(self.expression, self.shapes).scalar_ops
        return tree_ops([self.loss])

    @property
    def name(self) -> str:
        """The case's name."""
        return self.case.name

    @cached_property
    def gradient(self) -> Gradient:
        """The exact SymPy gradient (derived once, shared by ``reference`` and ``sympy``)."""
        return derive(self.loss, self.param_symbols)

    def lambdify(self, module: str) -> tuple[Callable[..., Any], Callable[..., Any], list[float]]:
        """SymPy's scalar gradient compiled for ``module`` (``"numpy"``, ``"mpmath"``):
        ``[loss, *grad]`` and the loss alone, each called with the flat parameters then the flat
        data, and the flat data as floats."""
        args = [*self.param_symbols, *self.data_symbols]
        function = lambdify_cse(args, self.gradient, module)
        loss_only = lambdify_cse(args, self.gradient, module, loss_only=True)
        data = [float(v) for values in self.data_values.values() for v in values.ravel()]
        return function, loss_only, data

    @property
    def array_gradient(self) -> ArrayGradient:
        """The loss as written, as an array graph, and its vectorised gradient (matrix calculus,
        :mod:`diffcmp.matcalc`): derived once, whatever the size of the data. Raises
        :class:`UnsupportedError` (every time, derived once) for a SymPy function diffcmp cannot
        translate (a Python case's own)."""
        if isinstance(self._array_gradient, Exception):
            raise self._array_gradient
        return self._array_gradient

    @cached_property
    def _array_gradient(self) -> ArrayGradient | UnsupportedError:
        leaves = {v.name: graph.var(v.name, v.shape, role)
                  for role, variables in (("param", self.params), ("data", self.data))
                  for v in variables}
        try:
            loss = self.loss_function(GRAPH_OPS)(leaves)
            return derive_arrays(loss, [leaves[v.name] for v in self.params])
        except UnsupportedError as exc:
            return exc

    @cached_property
    def float64_gradient(self) -> ArrayGradient:
        """The same gradient with the local derivatives float64 engines compute
        (:data:`~diffcmp.matcalc.rules.FLOAT64_FORMS`: ``1 - tanh(a)**2``), for the grading
        floors. Raises like :attr:`array_gradient`."""
        array = self.array_gradient
        return derive_arrays(array.loss, list(array.params), FLOAT64_FORMS)

    @cached_property
    def tangent_names(self) -> dict[str, str]:
        """The leaf name of each parameter's tangent in the Hessian-vector product graphs
        (``v_w`` for ``w``; underscores added until it names nothing else of the case)."""
        taken = {v.name for v in [*self.params, *self.data]}
        out = {}
        for v in self.params:
            name = f"v_{v.name}"
            while name in taken:
                name += "_"
            taken.add(name)
            out[v.name] = name
        return out

    @cached_property
    def array_hvp(self) -> ArrayHvp:
        """The Hessian-vector product at array level (:func:`~diffcmp.matcalc.derive.hvp`),
        along tangent leaves named by :attr:`tangent_names`. Raises like
        :attr:`array_gradient`."""
        return self._hvp(self.array_gradient)

    @cached_property
    def float64_hvp(self) -> ArrayHvp:
        """The same product with the local derivatives float64 engines compute, for the
        Hessian's grading floors."""
        return self._hvp(self.float64_gradient, FLOAT64_FORMS)

    def _hvp(self, gradient: ArrayGradient, rules: Mapping[str, Any] | None = None) -> ArrayHvp:
        tangents = [graph.var(self.tangent_names[v.name], v.shape, "data") for v in self.params]
        return derive_hvp(gradient, tangents) if rules is None else \
            derive_hvp(gradient, tangents, rules)

    def tangent_environment(self, v: Any) -> dict[str, np.ndarray]:
        """The tangent leaves of the product graphs from a flat vector ``v``, float64."""
        return {self.tangent_names[name]: part
                for name, part in self.split(np.asarray(v, dtype=np.float64)).items()}

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
        if self.expression is not None:
            return lang.compile_expression(self.expression, ops, self.shapes)
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
    return [Variable(name, array.shape) for name, array in values.items()]


def _lower_expression(case: Case) -> Problem:
    expression = inline(lang.parse(case.loss, case.where), parse_nodes(case.nodes, case.where))
    return Problem(case, _variables(case.params), _variables(case.data), None, expression)


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

