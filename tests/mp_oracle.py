"""An independent high-precision oracle for a loss of diffcmp's language: its value and gradient
at a point, each with an error estimate, or a proof-like finding that it is undefined there.

Independent of what it checks (the reference: the loss compiled by ``diffcmp.lang`` over Arb
balls, differentiated by ``diffcmp.matcalc``'s rules) in every part:

- the loss is parsed by Python's :mod:`ast` and interpreted here, over mpmath numbers, with each
  function written from its mathematical definition (``sigmoid(x) = 1 / (1 + exp(-x))``); no
  diffcmp module is imported;
- the gradient is no derivative rule at all: a central difference of the loss as written, with a
  step scaled to the point (``|x_k| * 10**(-P/3)``, a power of 2 so that ``x_k +- h`` is exact);
- errors are estimated, not assumed. Each value is computed three times at working precision
  ``P + 10``: once clean, twice with every rounded operation's result perturbed by a relative
  ``u * 10**-P`` (``u`` in [-1, 1), a hash of the operation and its arguments, so that equal
  operations on equal arguments stay equal). Ten times the largest spread bounds the clean
  value's rounding error (Monte Carlo arithmetic: it sees cancellation that correct rounding
  hides, such as ``1 - sigmoid(676)``, exactly 0 at 100 digits and ``1e-294`` in truth), and two
  precisions ``P`` and ``2 P`` bound the difference quotient's truncation;
- a point is undefined only where a domain's edge is crossed robustly (every sample crosses it
  at the same operation by the same margin, or the argument is exactly at a pole), at two
  consecutive precisions; a comparison (``where``, ``sign``) whose sides the perturbations move
  across each other, or a comparison of an undefined value, is not decided at all (the point is
  "ambiguous" at that precision).

The caller asks :class:`Oracle` for the loss (:meth:`Oracle.loss`) and the gradient's
components (:meth:`Oracle.grad`) at precision level ``j`` (``P = p0 * 2**j``) and raises ``j``
until its question is settled.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

#: Perturbed samples per value (besides the clean one), and the factor on their spread.
PERTURBED = 2
SPREAD_FACTOR = 10
#: Guard digits of the working precision above the perturbation's ``P``.
GUARD = 10
#: Beyond this magnitude (in bits) a value is out of the oracle's reach (``sin`` of it would
#: need that many digits of pi): the point is not settled.
MAG_LIMIT = 40_000
#: Relative agreement a comparison's gap, or a domain margin, must keep across samples.
ROBUST = mpmath.mpf("0.01")
#: The largest argument of exp (and of functions computed through it) the oracle takes.
EXP_LIMIT = 27_000


class Beyond(Exception):  # noqa: N818 (a finding, not a failure)
    """A value too large for the oracle to compute with (``exp(exp(exp(9)))``)."""


class Undecidable(Exception):  # noqa: N818 (a finding, not a failure)
    """A comparison of an undefined value (``where(log(a) > 1, ...)`` at ``a < 0``): whether
    ``where`` then selects a branch or is undefined is a convention, which the oracle leaves
    to others."""


@dataclass(frozen=True)
class Poison:
    """An undefined value and where it first arose: ``kind`` is "pole" (``log(0)``, ``1/0``) or
    "domain" (``sqrt(-1)``), ``margin`` the argument's signed distance past the edge."""

    op: str
    kind: str
    margin: Any


# --- the interpreter ------------------------------------------------------------------------

_OP_IDS: dict[str, int] = {}


def _op_id(name: str) -> int:
    """A small integer per operation name: hashes of ints are the same in every process."""
    return _OP_IDS.setdefault(name, len(_OP_IDS) + 1)


def _key(value: Any) -> Any:
    return value._mpf_ if isinstance(value, mpmath.mpf) else value


class _Run:
    """One evaluation: working precision, perturbation (``seed`` 0: none), and the record of
    every comparison's gap (and every ``sign`` argument) in evaluation order."""

    def __init__(self, digits: int, seed: int) -> None:
        self.digits, self.seed = digits, seed
        self.eps = mpmath.mpf(10) ** -digits
        self.records: list[Any] = []

    def rounded(self, value: Any, name: str, args: tuple[Any, ...]) -> Any:
        """``value``, the result of a rounded operation, as this run perturbs it."""
        if isinstance(value, Poison):
            return value
        if not mpmath.isfinite(value):
            raise AssertionError(f"{name} gave {value}")  # every pole is caught before
        if value != 0 and mpmath.mag(value) > MAG_LIMIT:
            raise Beyond(f"{name} reaches 2**{int(mpmath.mag(value))}")
        if self.seed == 0 or value == 0 or _exact(name, value, args):
            return value
        key = hash((self.seed, _op_id(name), *(_key(a) for a in args))) & (2**64 - 1)
        u = mpmath.mpf(((key * 0x9E3779B97F4A7C15) >> 11) & (2**53 - 1)) / 2**52 - 1
        return value * (1 + u * self.eps)


#: Functions at the argument where mpmath's value is exact (0 or 1, or 1/2 for sigmoid).
EXACT_AT = {"sin": 0, "tan": 0, "sinh": 0, "tanh": 0, "asin": 0, "atan": 0, "erf": 0,
            "log1p": 0, "cos": 0, "cosh": 0, "exp": 0, "sigmoid": 0, "log": 1, "acos": 1}


def _exact_sum(terms: Any) -> Any:
    total = mpmath.mpf(0)
    for term in terms:
        total = mpmath.fadd(total, term, exact=True)
    return total


def _exact_product(factors: Any) -> Any:
    product = mpmath.mpf(1)
    for factor in factors:
        product = mpmath.fmul(product, factor, exact=True)
    return product


def _exact(name: str, value: Any, args: tuple[Any, ...]) -> bool:
    """Whether ``value``, the rounded result of ``name`` of ``args``, is exact (``v / v``,
    ``a - a``, ``cosh(0)``): then no rounding is simulated."""
    if not all(isinstance(a, mpmath.mpf) for a in args):
        return False
    if name in ("Add", "sum"):
        return _exact_sum(args) == value
    if name == "Sub":
        return mpmath.fsub(args[0], args[1], exact=True) == value
    if name in ("Mult", "prod"):
        return _exact_product(args) == value
    if name == "mean":
        return mpmath.fmul(value, len(args), exact=True) == _exact_sum(args)
    if name == "dot":
        half = len(args) // 2
        return _exact_sum(mpmath.fmul(x, y, exact=True)
                          for x, y in zip(args[:half], args[half:], strict=True)) == value
    if name == "div":
        return mpmath.fmul(value, args[1], exact=True) == args[0]
    if name in ("sqrt", "pow2"):
        return _exact_product([value, value] if name == "sqrt" else args * 2) == \
            (args[0] if name == "sqrt" else value)
    return name in EXACT_AT and len(args) == 1 and args[0] == EXACT_AT[name]


def _poisoned(args: tuple[Any, ...]) -> Poison | None:
    return next((a for a in args if isinstance(a, Poison)), None)


def _exp_of(x: Any) -> Any:
    if x > EXP_LIMIT:
        raise Beyond(f"exp({mpmath.nstr(x, 5)})")
    return mpmath.exp(x)


def _log(x: Any) -> Any:
    return mpmath.log(x) if x > 0 else Poison("log", "pole" if x == 0 else "domain", x)


def _log1p(x: Any) -> Any:
    edge = x + 1
    return mpmath.log1p(x) if edge > 0 else Poison("log1p", "pole" if edge == 0 else "domain",
                                                    edge)


def _sqrt(x: Any) -> Any:
    return mpmath.sqrt(x) if x >= 0 else Poison("sqrt", "domain", x)


def _arc(function: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    return lambda x: function(x) if abs(x) <= 1 else Poison(name, "domain", 1 - abs(x))


def _guarded(function: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    """``function``, declined (:class:`Beyond`) past an argument of ``EXP_LIMIT``."""
    def guarded(x: Any) -> Any:
        if abs(x) > EXP_LIMIT:
            raise Beyond(f"{name}({mpmath.nstr(x, 5)})")
        return function(x)
    return guarded


def _sigmoid(x: Any) -> Any:
    return 1 / (1 + _exp_of(-x))


def _softplus(x: Any) -> Any:
    return mpmath.log1p(_exp_of(x))


def _inside_one(function: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    """``atanh`` and ``erfinv``: defined on (-1, 1), a pole at either end."""
    def inside(x: Any) -> Any:
        edge = 1 - abs(x)
        return function(x) if edge > 0 else Poison(name, "pole" if edge == 0 else "domain",
                                                   edge)
    return inside


def _at_pole(name: str, function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``gammaln`` and ``digamma``: poles at 0, -1, -2, ..."""
    return lambda x: Poison(name, "pole", x) if x <= 0 and mpmath.isint(x) else function(x)


def _logaddexp(a: Any, b: Any) -> Any:
    """``log(exp(a) + exp(b))`` as ``max + log(1 + exp(-|a - b|))``: no overflow."""
    return max(a, b) + mpmath.log1p(mpmath.exp(-abs(a - b)))


#: NumPy's names of the language's functions.
ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
           "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "absolute": "abs",
           "maximum": "max", "minimum": "min", "remainder": "mod"}

#: Functions of one argument: the mathematical function, or a Poison outside its domain.
#: Rounded: the result is perturbed (abs, relu and sign are exact).
UNARY: dict[str, Callable[[Any], Any]] = {
    "exp": _exp_of, "log": _log, "log1p": _log1p, "sqrt": _sqrt,
    "sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan,
    "asin": _arc(mpmath.asin, "asin"), "acos": _arc(mpmath.acos, "acos"), "atan": mpmath.atan,
    "sinh": _guarded(mpmath.sinh, "sinh"), "cosh": _guarded(mpmath.cosh, "cosh"),
    "tanh": _guarded(mpmath.tanh, "tanh"), "erf": _guarded(mpmath.erf, "erf"),
    "sigmoid": _sigmoid, "softplus": _softplus,
    "asinh": mpmath.asinh,
    "acosh": lambda x: mpmath.acosh(x) if x >= 1 else Poison("acosh", "domain", x - 1),
    "atanh": _inside_one(mpmath.atanh, "atanh"), "expm1": _guarded(mpmath.expm1, "expm1"),
    "log2": lambda x: _log(x) if x <= 0 else mpmath.log(x) / mpmath.log(2),
    "log10": lambda x: _log(x) if x <= 0 else mpmath.log(x) / mpmath.log(10),
    "square": lambda x: x * x,
    "cbrt": lambda x: mpmath.sign(x) * mpmath.cbrt(abs(x)),
    "reciprocal": lambda x: 1 / x if x != 0 else Poison("reciprocal", "pole", x),
    "sinc": lambda x: mpmath.sin(mpmath.pi * x) / (mpmath.pi * x) if x != 0 else mpmath.mpf(1),
    "erfc": _guarded(mpmath.erfc, "erfc"), "erfinv": _inside_one(mpmath.erfinv, "erfinv"),
    "gammaln": _at_pole("gammaln", lambda x: mpmath.log(abs(mpmath.gamma(x)))),
    "digamma": _at_pole("digamma", mpmath.digamma),
}
EXACT_UNARY: dict[str, Callable[[Any], Any]] = {
    "abs": abs, "relu": lambda x: x if x > 0 else mpmath.mpf(0),
}
COMPARE = {ast.Lt: lambda g: g < 0, ast.LtE: lambda g: g <= 0, ast.Gt: lambda g: g > 0,
           ast.GtE: lambda g: g >= 0, ast.Eq: lambda g: g == 0, ast.NotEq: lambda g: g != 0}
REDUCTIONS = ("sum", "mean", "prod", "norm", "logsumexp", "max", "min")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _literal(node: ast.expr) -> int | Fraction | float | None:
    """The value of a literal-only sub-expression, folded as the language folds it: integers and
    fractions exactly, anything with a float in float64; ``None`` if it is not one."""
    match node:
        case ast.Constant(value=value) if isinstance(value, int | float) and \
                not isinstance(value, bool):
            return value
        case ast.UnaryOp(op=ast.USub() | ast.UAdd() as op, operand=operand):
            inner = _literal(operand)
            return None if inner is None else -inner if isinstance(op, ast.USub) else inner
        case ast.BinOp(op=op, left=left, right=right):
            a, b = _literal(left), _literal(right)
            if a is None or b is None:
                return None
            if isinstance(op, ast.Div):
                exact = isinstance(a, int | Fraction) and isinstance(b, int | Fraction)
                return Fraction(a) / Fraction(b) if exact else a / b
            if isinstance(op, ast.Pow):
                if _is_int(b) and isinstance(a, int | Fraction):
                    return Fraction(a) ** b if b < 0 or isinstance(a, Fraction) else a ** b
                return float(a) ** float(b)
            if isinstance(op, ast.Mod) and b != 0:
                return a % b
            if isinstance(op, ast.Add | ast.Sub | ast.Mult):
                return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b,
                        ast.Mult: lambda: a * b}[type(op)]()
    return None


class Interpreter:
    """The loss ``text`` over mpmath numbers and NumPy object arrays of them."""

    def __init__(self, text: str) -> None:
        self.tree = ast.parse(text.strip(), mode="eval").body

    def __call__(self, env: Mapping[str, Any], run: _Run) -> Any:
        with mpmath.workdps(run.digits + GUARD):
            return self.visit(self.tree, env, run)

    # -- elementwise helpers --
    @staticmethod
    def map(function: Callable[..., Any], *args: Any) -> Any:
        if any(isinstance(a, np.ndarray) for a in args):
            return np.frompyfunc(function, len(args), 1)(*args)
        return function(*args)

    def rounded(self, name: str, function: Callable[..., Any], run: _Run,
                *args: Any) -> Any:
        def one(*xs: Any) -> Any:
            poison = _poisoned(xs)
            return poison or run.rounded(function(*xs), name, xs)
        return self.map(one, *args)

    def exact(self, function: Callable[..., Any], *args: Any) -> Any:
        return self.map(lambda *xs: _poisoned(xs) or function(*xs), *args)

    # -- the tree --
    def visit(self, node: ast.expr, env: Mapping[str, Any], run: _Run) -> Any:
        literal = _literal(node)
        if literal is not None:
            return self.constant(literal, run)
        match node:
            case ast.Name(id=name) if name in env:
                return env[name]
            case ast.Name(id="pi"):
                return run.rounded(+mpmath.pi, "pi", ())
            case ast.Name(id="E"):
                return run.rounded(mpmath.e + 0, "E", ())
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return self.exact(lambda x: -x, self.visit(operand, env, run))
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return self.visit(operand, env, run)
            case ast.BinOp(op=ast.Pow(), left=left, right=right):
                return self.power(left, right, env, run)
            case ast.BinOp(op=op, left=left, right=right):
                a, b = self.visit(left, env, run), self.visit(right, env, run)
                return self.binary(type(op), a, b, run)
            case ast.Compare(ops=[op], left=left, comparators=[right]):
                a, b = self.visit(left, env, run), self.visit(right, env, run)
                return self.compare(type(op), a, b, run)
            case ast.Attribute(value=value, attr="T"):
                inner = self.visit(value, env, run)
                return inner.T if isinstance(inner, np.ndarray) else inner
            case ast.Subscript(value=value, slice=key):
                inner = self.visit(value, env, run)
                array = inner if isinstance(inner, np.ndarray) else np.array(inner, dtype=object)
                return array[self.key(key)]
            case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords):
                return self.call(name, args, keywords, env, run)
        raise ValueError(f"the oracle does not know {ast.unparse(node)}")

    @staticmethod
    def constant(value: int | Fraction | float, run: _Run) -> Any:
        if isinstance(value, float):
            return mpmath.mpf(value)
        value = Fraction(value)
        result = mpmath.mpf(value.numerator) / value.denominator
        exact = value.denominator & (value.denominator - 1) == 0  # a power of 2
        return result if exact else run.rounded(result, "const", (value.numerator,
                                                                  value.denominator))

    @staticmethod
    def key(node: ast.expr) -> Any:
        def part(p: ast.expr) -> Any:
            if isinstance(p, ast.Slice):
                bounds = [None if b is None else int(_literal(b)) for b in (p.lower, p.upper,
                                                                             p.step)]
                return slice(*bounds)
            return int(_literal(p))
        if isinstance(node, ast.Tuple):
            return tuple(part(p) for p in node.elts)
        return part(node)

    def binary(self, op: type, a: Any, b: Any, run: _Run) -> Any:
        if op is ast.MatMult:
            return self.matmul(a, b, run)
        if op is ast.Div:
            def divide(x: Any, y: Any) -> Any:
                return x / y if y != 0 else Poison("div", "pole", y)
            return self.rounded("div", divide, run, a, b)
        if op is ast.Mod:
            return self.mod(a, b, run)
        function = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y,
                    ast.Mult: lambda x, y: x * y}[op]
        return self.rounded(op.__name__, function, run, a, b)

    def power(self, left: ast.expr, right: ast.expr, env: Mapping[str, Any], run: _Run) -> Any:
        base = self.visit(left, env, run)
        exponent = _literal(right)
        if exponent is not None and float(exponent).is_integer() and abs(exponent) <= 2**31:
            n = int(exponent)  # an integral literal: an integer power, real for any base

            def integer_power(x: Any) -> Any:
                if x == 0 and n < 0:
                    return Poison("pow", "pole", x)
                if x != 0 and abs(n * mpmath.mag(x)) > MAG_LIMIT:
                    raise Beyond("a power")
                return x ** n
            return self.rounded(f"pow{n}", integer_power, run, base)
        power = self.visit(right, env, run)

        def real_power(x: Any, y: Any) -> Any:
            if x == 0:
                return mpmath.mpf(0) if y > 0 else mpmath.mpf(1) if y == 0 else \
                    Poison("pow", "pole", x)
            if x < 0 and not mpmath.isint(y):
                return Poison("pow", "domain", x)
            if abs(y * mpmath.log(abs(x))) > EXP_LIMIT:
                raise Beyond("a power")
            return x ** y if x > 0 else mpmath.mpf((-1) ** int(y)) * abs(x) ** y
        return self.rounded("pow", real_power, run, base, power)

    def mod(self, a: Any, b: Any, run: _Run) -> Any:
        """NumPy's ``mod``: ``a - b floor(a / b)``, the sign of the divisor (a jump where
        ``a / b`` is an integer: its distance from one is recorded, like a comparison's gap)."""
        def one(x: Any, y: Any) -> Any:
            if y == 0:
                return Poison("mod", "pole", y)
            ratio = x / y
            run.records.append(ratio - mpmath.nint(ratio))
            return x - y * mpmath.floor(ratio)
        return self.rounded("mod", one, run, a, b)

    def step(self, name: str, value: Any, run: _Run) -> Any:
        """``floor`` or ``ceil``: exact, a jump at each integer (recorded like a gap)."""
        def one(x: Any) -> Any:
            run.records.append(x - mpmath.nint(x))
            return mpmath.floor(x) if name == "floor" else mpmath.ceil(x)
        return self.exact(one, value)

    def compare(self, op: type, a: Any, b: Any, run: _Run) -> Any:
        test = COMPARE[op]

        def one(x: Any, y: Any) -> Any:
            if _poisoned((x, y)):
                raise Undecidable(f"a comparison of an undefined value ({_poisoned((x, y))})")
            gap = x - y
            run.records.append(gap)
            return bool(test(gap))
        return self.map(one, a, b)

    def call(self, name: str, args: list[ast.expr], keywords: list[ast.keyword],
             env: Mapping[str, Any], run: _Run) -> Any:
        axis = next((_literal(k.value) if not (isinstance(k.value, ast.Constant)
                                               and k.value.value is None) else None
                     for k in keywords if k.arg == "axis"), "default")
        if name == "reshape":
            value = self.visit(args[0], env, run)
            shape = _literal(args[1]) if not isinstance(args[1], ast.Tuple) else \
                tuple(_literal(e) for e in args[1].elts)
            return np.reshape(np.asarray(value, dtype=object), shape)
        name = ALIASES.get(name, name)
        if name == "power":
            return self.power(args[0], args[1], env, run)
        values = [self.visit(a, env, run) for a in args]
        if name in ("floor", "ceil"):
            return self.step(name, values[0], run)
        if name == "mod":
            return self.mod(values[0], values[1], run)
        if name == "hypot":
            return self.rounded("hypot", mpmath.hypot, run, *values)
        if name == "logaddexp":
            return self.rounded("logaddexp", _logaddexp, run, *values)
        if name == "clip":
            return self.exact(lambda x, lo, hi: min(max(x, lo), hi), *values)
        if name in UNARY:
            return self.rounded(name, UNARY[name], run, values[0])
        if name in EXACT_UNARY:
            return self.exact(EXACT_UNARY[name], values[0])
        if name == "sign":
            def sign(x: Any) -> Any:
                run.records.append(x)
                return mpmath.mpf(mpmath.sign(x))
            return self.exact(sign, values[0])
        if name in ("max", "min") and len(values) == 2:
            pick = max if name == "max" else min
            return self.exact(lambda x, y: pick(x, y), *values)
        if name == "atan2":
            def atan2(y: Any, x: Any) -> Any:
                if x == 0 and y == 0:
                    return Poison("atan2", "pole", x)
                return mpmath.atan2(y, x)
            return self.rounded("atan2", atan2, run, *values)
        if name == "where":
            def select(c: Any, x: Any, y: Any) -> Any:
                return x if c else y
            return self.map(select, *values)
        if name == "dot":
            return self.reduce_lines(lambda xs, ys: mpmath.fdot(xs, ys), "dot", run,
                                     list(np.ravel(values[0])), list(np.ravel(values[1])))
        if name in REDUCTIONS:
            return self.reduction(name, values[0], None if axis == "default" else axis, run)
        if name in ("softmax", "log_softmax"):
            return self.along(name, values[0], -1 if axis == "default" else axis, run)
        raise ValueError(f"the oracle does not know {name}()")

    @staticmethod
    def reduce_lines(function: Callable[..., Any], name: str, run: _Run,
                     *lines: list[Any]) -> Any:
        poison = _poisoned(tuple(x for line in lines for x in line))
        if poison:
            return poison
        return run.rounded(function(*lines), name, tuple(x for line in lines for x in line))

    def line_reduction(self, name: str, run: _Run) -> Callable[[list[Any]], Any]:
        def exp_sum(xs: list[Any]) -> Any:
            return mpmath.fsum(_exp_of(x) for x in xs)
        functions: dict[str, Callable[[list[Any]], Any]] = {
            "sum": mpmath.fsum, "mean": lambda xs: mpmath.fsum(xs) / len(xs),
            "prod": mpmath.fprod, "norm": lambda xs: mpmath.sqrt(mpmath.fsum(x * x for x in xs)),
            "logsumexp": lambda xs: mpmath.log(exp_sum(xs)), "max": max, "min": min}
        function = functions[name]
        if name in ("max", "min"):
            return lambda xs: _poisoned(tuple(xs)) or function(xs)
        return lambda xs: self.reduce_lines(function, name, run, xs)

    def reduction(self, name: str, value: Any, axis: int | None, run: _Run) -> Any:
        reduce = self.line_reduction(name, run)
        if not isinstance(value, np.ndarray) or axis is None:
            return reduce(list(np.ravel(value)))
        moved = np.moveaxis(value, axis, -1)
        if moved.ndim == 1:
            return reduce(list(moved))
        out = np.empty(moved.shape[:-1], dtype=object)
        for index in np.ndindex(*out.shape):
            out[index] = reduce(list(moved[index]))
        return out

    def along(self, name: str, value: np.ndarray, axis: int, run: _Run) -> np.ndarray:
        def line(xs: list[Any]) -> list[Any]:
            poison = _poisoned(tuple(xs))
            if poison:
                return [poison] * len(xs)
            total = run.rounded(mpmath.fsum(_exp_of(x) for x in xs), "sumexp", tuple(xs))
            if name == "softmax":
                return [run.rounded(_exp_of(x) / total, "softmax", (x, total)) for x in xs]
            log_total = run.rounded(mpmath.log(total), "log", (total,))
            return [run.rounded(x - log_total, "sub", (x, log_total)) for x in xs]
        moved = np.moveaxis(value, axis, -1)
        out = np.empty(moved.shape, dtype=object)
        for index in np.ndindex(*moved.shape[:-1]):
            out[index][:] = line(list(moved[index]))
        return np.moveaxis(out, -1, axis)

    def matmul(self, a: np.ndarray, b: np.ndarray, run: _Run) -> Any:
        a2 = a if a.ndim == 2 else a[None, :]
        b2 = b if b.ndim == 2 else b[:, None]
        out = np.empty((a2.shape[0], b2.shape[1]), dtype=object)
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = self.reduce_lines(lambda xs, ys: mpmath.fdot(xs, ys), "dot", run,
                                              list(a2[i]), list(b2[:, j]))
        if a.ndim == 1:
            out = out[0]
        if b.ndim == 1:
            out = out[..., 0]
        return out if isinstance(out, np.ndarray) and out.ndim else out[()]


# --- samples and their summary --------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """A value at one precision: ``kind`` is "value" (``value`` with rounding bound
    ``noise``), "undefined" (``poison``: every sample poisoned alike), "ambiguous" (a comparison
    the perturbations move across, or an undefined value some samples avoid), or "beyond"."""

    kind: str
    value: Any = None
    noise: Any = None
    poison: Poison | None = None
    samples: tuple[Any, ...] = ()
    why: str = ""


def _robust(values: list[Any]) -> bool:
    """The samples of a gap or margin agree on its sign and to ``ROBUST`` of it (or are all 0)."""
    first = values[0]
    if first == 0:
        return all(v == 0 for v in values)
    return all(abs(v - first) <= ROBUST * abs(first) for v in values)


def summarise(runs: list[tuple[Any, _Run] | Exception]) -> Summary:
    """The clean sample (first) with its noise, from the perturbed ones."""
    failed = [r for r in runs if isinstance(r, Exception)]
    if failed:
        kind = "ambiguous" if isinstance(failed[0], Undecidable) else "beyond"
        return Summary(kind, why=str(failed[0]))
    values = [v for v, _ in runs]  # type: ignore[misc]
    records = [run.records for _, run in runs]  # type: ignore[misc]
    if len({len(r) for r in records}) != 1 or not all(
            _robust([r[i] for r in records]) for i in range(len(records[0]))):
        return Summary("ambiguous", why="a comparison is within the rounding of its sides")
    if any(isinstance(v, np.ndarray) for v in values):
        raise ValueError("the loss is not a scalar")
    poisons = [v for v in values if isinstance(v, Poison)]
    if poisons:
        if len(poisons) == len(values) and len({(p.op, p.kind) for p in poisons}) == 1 and \
                _robust([p.margin for p in poisons]):
            return Summary("undefined", poison=poisons[0])
        return Summary("ambiguous", why="some samples are undefined, others not")
    clean = values[0]
    noise = SPREAD_FACTOR * max(abs(v - clean) for v in values[1:])
    return Summary("value", clean, noise, samples=tuple(values))


# --- the oracle -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Component:
    """One gradient component at level ``j`` (from levels ``j - 1`` and ``j``): ``kind`` is
    "smooth" (``value`` within ``error``), "kink" (one-sided slopes differ), "edge" (one side
    undefined), or "unsure" (``why``)."""

    kind: str
    value: Any = None
    error: Any = None
    why: str = ""


class Oracle:
    """The loss ``text`` at ``params`` and ``data`` (name -> float64 array), at precision
    ``p0 * 2**j`` for level ``j``."""

    def __init__(self, text: str, params: Mapping[str, np.ndarray],
                 data: Mapping[str, np.ndarray], p0: int = 100) -> None:
        self.interpreter = Interpreter(text)
        self.p0 = p0
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        self.data = {k: np.asarray(v, dtype=np.float64) for k, v in data.items()}
        self.components = [(name, index) for name, value in self.params.items()
                           for index in np.ndindex(*value.shape)]
        nonzero = [abs(float(v)) for value in [*self.params.values(), *self.data.values()]
                   for v in value.ravel() if v != 0]
        self.fallback_scale = min([1.0, *nonzero])
        self._cache: dict[tuple[int, Any], Summary] = {}

    def digits(self, j: int) -> int:
        return self.p0 * 2**j

    def scale(self, k: int) -> float:
        name, index = self.components[k]
        value = abs(float(self.params[name][index]))
        return value if value else self.fallback_scale

    def step(self, k: int, j: int) -> Any:
        """A power of 2 near ``scale * 10**(-P/3)``: ``x_k +- h`` is exact at ``P`` digits."""
        target = math.log2(self.scale(k)) - self.digits(j) / 3 * math.log2(10)
        return mpmath.ldexp(1, math.floor(target))

    def env(self, shift: tuple[int, int] | None, j: int) -> dict[str, Any]:
        def mp(value: np.ndarray) -> Any:
            if value.shape == ():
                return mpmath.mpf(float(value))
            return np.frompyfunc(lambda v: mpmath.mpf(float(v)), 1, 1)(value)
        env = {k: mp(v) for k, v in {**self.data, **self.params}.items()}
        if shift is not None:
            k, sign = shift
            name, index = self.components[k]
            moved = mpmath.fadd(mpmath.mpf(float(self.params[name][index])),
                                sign * self.step(k, j), exact=True)
            if index == ():
                env[name] = moved
            else:
                env[name] = env[name].copy()
                env[name][index] = moved
        return env

    def at(self, shift: tuple[int, int] | None, j: int) -> Summary:
        """The loss at the point (``shift`` None) or at ``x_k + sign * h`` (``(k, sign)``)."""
        key = (j, shift)
        if key not in self._cache:
            env = self.env(shift, j)
            runs: list[Any] = []
            for seed in range(PERTURBED + 1):
                run = _Run(self.digits(j), seed)
                try:
                    runs.append((self.interpreter(env, run), run))
                except (Beyond, Undecidable) as exc:
                    runs.append(exc)
            self._cache[key] = summarise(runs)
        return self._cache[key]

    def loss(self, j: int) -> Summary:
        return self.at(None, j)

    def grad(self, k: int, j: int) -> Component:
        """Component ``k`` from levels ``j - 1`` and ``j`` (``j >= 1``)."""
        slopes = [self._slopes(k, i) for i in (j - 1, j)]
        for s in slopes:
            if isinstance(s, Component):
                return s
        (g0, noise0, bend0, bendnoise0), (g1, noise1, bend1, bendnoise1) = slopes
        # smooth: the difference of the one-sided slopes shrinks with the step (h F''), a kink
        # or a jump keeps or grows it: the threshold is their geometric mean
        ratio = mpmath.sqrt(self.step(k, j) / self.step(k, j - 1))
        if abs(bend1) > ratio * (abs(bend0) + bendnoise0) + bendnoise1:
            return Component("kink", why="the one-sided slopes differ")
        # the error: rounding, the slopes' difference (any value between them is within half of
        # it), and the truncation, from the previous level: all of their difference unless
        # that difference is rounding there, then its share at this step (truncation ~ h**2)
        difference = abs(g0 - g1)
        truncation = difference if difference > noise0 + noise1 else \
            (difference + noise0) * (self.step(k, j) / self.step(k, j - 1)) ** 2
        return Component("smooth", g1, noise1 + abs(bend1) + truncation)

    def _slopes(self, k: int, j: int) -> tuple[Any, Any, Any, Any] | Component:
        """Central slope, its noise, the one-sided slopes' difference and its noise."""
        centre, plus, minus = self.at(None, j), self.at((k, 1), j), self.at((k, -1), j)
        if centre.kind != "value":
            return Component("unsure", why=f"the loss is {centre.kind} here")
        for side in (plus, minus):
            if side.kind == "undefined":
                return Component("edge", why="the loss is undefined on one side")
            if side.kind != "value":
                return Component("unsure", why=f"one side is {side.kind}")
        h = self.step(k, j)
        with mpmath.workdps(self.digits(j) + GUARD):
            slopes = [(p - m) / (2 * h) for p, m in zip(plus.samples, minus.samples,
                                                         strict=True)]
            bends = [(p - 2 * c + m) / h for p, c, m in zip(plus.samples, centre.samples,
                                                             minus.samples, strict=True)]
            noise = SPREAD_FACTOR * max(abs(s - slopes[0]) for s in slopes[1:])
            bend_noise = SPREAD_FACTOR * max(abs(b - bends[0]) for b in bends[1:])
            return slopes[0], noise, bends[0], bend_noise
