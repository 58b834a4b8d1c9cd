"""Gamma distribution negative log-likelihood (uses loggamma, outside the TOML language).

Shape k and rate theta, density theta^k x^(k-1) exp(-theta x) / Gamma(k) (Johnson, Kotz &
Balakrishnan, Continuous Univariate Distributions, vol. 1, 2nd ed., ch. 17; Minka 2002,
Estimating a Gamma distribution). The NLL over observations x_i is

    sum_i loggamma(k) - k log(theta) - (k - 1) log(x_i) + theta x_i

with gradient d/dk = sum_i digamma(k) - log(theta) - log(x_i) and d/dtheta = sum_i x_i - k/theta
(the maximum-likelihood equations of Choi & Wette 1969, Technometrics 11(4)). At k = 2,
theta = 1.5, digamma(2) = 1 - EulerGamma and loggamma(2) = 0; the expected values below were
computed from these closed forms with mpmath at 50 digits. The observations are exact decimals
(SymPy Rationals), so the 50-digit reference is not limited by 15-digit Floats.
"""

import sympy as sp

import diffcmp

k, theta = sp.symbols("k theta", positive=True)
obs = [sp.Rational(x) for x in ("0.8", "1.7", "2.4", "3.1")]
loss = sum(sp.loggamma(k) - k * sp.log(theta) - (k - 1) * sp.log(x) + theta * x for x in obs)

CASE = diffcmp.Case(
    name="gamma_nll",
    loss=loss,
    params={"k": 2.0, "theta": 1.5},
    data={},
    description=(
        "Negative log-likelihood of a Gamma(shape k, rate theta) distribution over 4 observations "
        "(0.8, 1.7, 2.4, 3.1), using loggamma, which the TOML language lacks (Johnson, Kotz & "
        "Balakrishnan, Continuous Univariate Distributions, vol. 1, ch. 17; Minka 2002). "
        "Hand-derived gradient: d/dk = sum digamma(k) - log(theta) - log(x), "
        "d/dtheta = sum x - k/theta = 8 - 16/3; values from mpmath at 50 digits."
    ),
    tags=["ml", "python", "density"],
    expect={
        "loss": 6.441923586541724,
        "grad": {"k": -2.24507864063175, "theta": 2.6666666666666665},
    },
)
