"""Constant folding: arithmetic of the language's literals done once, when compiled, exactly for
integers and fractions (``1/2`` is one half), with errors for what float64 cannot hold."""

from __future__ import annotations

import ast
import math
from fractions import Fraction

from .parse import Expression

#: The most bits an exact constant (or a constant power's estimate) may have.
MAX_LITERAL_BITS = 4096

#: A constant of the language: exact (int, Fraction) or float.
Number = int | Fraction | float


def fold(expr: Expression, op: str, node: ast.AST, a: Number, b: Number) -> Number:
    """``a op b`` of two constants, exactly where both are exact; an error naming ``node`` where
    float64 cannot hold the result."""
    try:
        if op == "div":
            if b == 0:
                raise expr.error("division by zero in a constant", node)
            both_exact = isinstance(a, int | Fraction) and isinstance(b, int | Fraction)
            return _finite(expr, node, Fraction(a) / Fraction(b) if both_exact else a / b)
        if op == "pow":
            return _finite(expr, node, _fold_pow(expr, node, a, b))
        if op == "mod":  # Python's %, like NumPy's mod: the sign of the divisor
            if b == 0:
                raise expr.error("modulo by zero in a constant", node)
            return _finite(expr, node, a % b)
        return _finite(expr, node, {"add": lambda: a + b, "sub": lambda: a - b,
                                   "mul": lambda: a * b}[op]())
    except OverflowError:
        raise expr.error("a constant overflows float64", node) from None
    except KeyError:
        raise expr.error(f"'{op}' of two numbers is not defined", node) from None

def _finite(expr: Expression, node: ast.AST, value: Number) -> Number:
    """``value`` if float64 can hold it (and it is not a giant exact number), else an error."""
    if isinstance(value, int | Fraction):
        bits = max(Fraction(value).numerator.bit_length(),
                   Fraction(value).denominator.bit_length())
        if bits > MAX_LITERAL_BITS:
            raise expr.error(f"a constant is too large ({bits:,} bits; the limit is "
                                  f"{MAX_LITERAL_BITS})", node)
    if not math.isfinite(float(value)):
        raise OverflowError
    return value

def _fold_pow(expr: Expression, node: ast.AST, a: Number, b: Number) -> Number:
    if isinstance(b, int) and isinstance(a, int | Fraction):
        size = max(abs(Fraction(a).numerator), abs(Fraction(a).denominator), 2).bit_length()
        if size * abs(b) > MAX_LITERAL_BITS:
            raise expr.error(
                f"constant power is too large (about {size * abs(b):,} bits; "
                f"the limit is {MAX_LITERAL_BITS})", node)
        if a == 0 and b < 0:
            raise expr.error("division by zero in a constant", node)
        return Fraction(a) ** b if b < 0 or isinstance(a, Fraction) else a ** b
    if float(a) < 0 and not float(b).is_integer():
        raise expr.error("a negative constant to a fractional power is not real", node)
    if float(a) == 0 and float(b) < 0:
        raise expr.error("division by zero in a constant", node)
    return float(a) ** float(b)
