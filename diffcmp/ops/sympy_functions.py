"""SymPy functions for the ML vocabulary that SymPy lacks: sigmoid, softplus and logsumexp.

Each one knows its derivative (so the symbolic gradient stays in these stable forms) and each
backend prints it stably: ``logsumexp`` of entries near 1000 is fine in every float64 engine, while
the naive ``log(sum(exp(v)))`` overflows, as it should.
"""

from __future__ import annotations

import sympy as sp


class Sigmoid(sp.Function):
    """The logistic function ``1 / (1 + exp(-x))``."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        s = Sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_zero:
            return sp.Rational(1, 2)
        return None

    def _eval_rewrite_as_exp(self, x: sp.Expr, **kwargs: object) -> sp.Expr:
        return 1 / (1 + sp.exp(-x))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_is_extended_positive(self) -> bool | None:
        return True if self.args[0].is_real else None


class Softplus(sp.Function):
    """``log(1 + exp(x))``; its derivative is :class:`Sigmoid`."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return Sigmoid(self.args[0])

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_zero:
            return sp.log(2)
        return None

    def _eval_rewrite_as_exp(self, x: sp.Expr, **kwargs: object) -> sp.Expr:
        return sp.log(1 + sp.exp(x))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


class LogSumExp(sp.Function):
    """``log(sum(exp(v)))`` over its arguments; derivative ``exp(v_i - logsumexp(v))``."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.exp(self.args[argindex - 1] - self)

    @classmethod
    def eval(cls, *args: sp.Expr) -> sp.Expr | None:
        if len(args) == 1:
            return args[0]
        return None

    def _eval_rewrite_as_exp(self, *args: sp.Expr, **kwargs: object) -> sp.Expr:
        return sp.log(sp.Add(*[sp.exp(a) for a in args]))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        return True if all(a.is_real for a in self.args) else None


class SincPi(sp.Function):
    """NumPy's ``sinc``, normalised: ``sin(pi x) / (pi x)``, 1 at 0 (SymPy's ``sinc`` is
    ``sin(x) / x``)."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        x = self.args[0]
        return sp.Piecewise((0, sp.Eq(x, 0)), ((sp.cos(sp.pi * x) - SincPi(x)) / x, True))

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_zero:
            return sp.Integer(1)
        return None

    def _eval_rewrite_as_sin(self, x: sp.Expr, **kwargs: object) -> sp.Expr:
        return sp.sinc(sp.pi * x)

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return sp.sinc(sp.pi * self.args[0])._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


class LogAbsGamma(sp.Function):
    """``log|gamma(x)|``, NumPy's (SciPy's) ``gammaln``: real wherever gamma is finite and not
    zero (SymPy's ``loggamma`` is complex where gamma is negative); derivative digamma."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.polygamma(0, self.args[0])

    def _eval_rewrite_as_gamma(self, x: sp.Expr, **kwargs: object) -> sp.Expr:
        return sp.log(sp.Abs(sp.gamma(x)))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.rewrite(sp.gamma)._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


class RealCbrt(sp.Function):
    """NumPy's ``cbrt``: the real cube root, negative for a negative ``x`` (SymPy's
    ``cbrt`` is the principal root, complex there)."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return 1 / (3 * RealCbrt(self.args[0]) ** 2)

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_Number:
            return sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3)
        return None

    def _eval_evalf(self, prec: int) -> sp.Expr:
        x = self.args[0]
        return (sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3))._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


class _Step(sp.Function):
    """A step function (``floor``, ``ceil``): derivative 0 off its jumps (grading finds the
    jumps, :mod:`diffcmp.grading.kinks`); SymPy's own ``floor`` has no derivative at all."""

    nargs = 1
    _step: type[sp.Function] = sp.floor

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.Integer(0)

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_Number:
            return cls._step(x)
        return None

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self._step(self.args[0]._eval_evalf(prec) or self.args[0])

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


class Floor(_Step):
    """NumPy's ``floor`` (see :class:`_Step`)."""

    _step = sp.floor


class Ceil(_Step):
    """NumPy's ``ceil`` (see :class:`_Step`)."""

    _step = sp.ceiling
