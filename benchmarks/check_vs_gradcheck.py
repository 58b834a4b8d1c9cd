# ruff: noqa: N803  (course-assignment names: W, X, Y)
"""diffcmp.check without a loss (fast mode) against torch.autograd.gradcheck, at 800 parameters.

The function: a two-layer tanh network's mean squared error in PyTorch (autograd), float64,
800 parameter elements (W1: 30 x 20, W2: 20 x 10: 600 + 200). Prints the median
wall time of each (after a warm-up), their ratio, and whether a single wrong component (a
custom backward off by 1% at one element) is caught and named by both. Run:
``PYTHONPATH=. python benchmarks/check_vs_gradcheck.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

import diffcmp

RUNS = 5
rng = np.random.default_rng(0)
X = torch.tensor(rng.standard_normal((64, 30)))
Y = torch.tensor(rng.standard_normal((64, 10)))
W1 = torch.tensor(rng.standard_normal((30, 20)) * 0.3)
W2 = torch.tensor(rng.standard_normal((20, 10)) * 0.3)
BAD = (3, 7)  # the component the buggy backward gets wrong


class Scale(torch.autograd.Function):
    """Identity forward; backward 1% off at one element of W1 (the bug to find)."""

    @staticmethod
    def forward(ctx, w):
        return w.clone()

    @staticmethod
    def backward(ctx, g):
        g = g.clone()
        g[BAD] *= 1.01
        return g


def net(W1, W2, X, Y):
    return ((torch.tanh(X @ W1) @ W2 - Y) ** 2).mean()


def buggy(W1, W2, X, Y):
    return net(Scale.apply(W1), W2, X, Y)


def median_time(call) -> float:
    call()  # warm-up
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gradcheck(fn) -> bool:
    w1, w2 = W1.clone().requires_grad_(), W2.clone().requires_grad_()
    return torch.autograd.gradcheck(lambda a, b: fn(a, b, X, Y), (w1, w2), raise_exception=False)


def check(fn) -> diffcmp.Result:
    return diffcmp.check(fn, {"W1": W1, "W2": W2}, {"X": X, "Y": Y})


def main() -> None:
    n = W1.numel() + W2.numel()
    t_grad = median_time(lambda: gradcheck(net))
    t_check = median_time(lambda: check(net))
    t_grad_bad = median_time(lambda: gradcheck(buggy))
    t_check_bad = median_time(lambda: check(buggy))
    good, bad = check(net), check(buggy)
    row = bad.agreement[bad.agreement["engine"] == "buggy"].iloc[0]
    print(f"{n} parameters, median of {RUNS} warm runs")
    print(f"correct: gradcheck {t_grad:.3f} s  check {t_check:.3f} s  "
          f"ratio {t_check / t_grad:.2f}  (check ok: {good.ok}, gradcheck ok: {gradcheck(net)})")
    print(f"buggy:   gradcheck {t_grad_bad:.3f} s  check {t_check_bad:.3f} s  "
          f"ratio {t_check_bad / t_grad_bad:.2f}  (gradcheck ok: {gradcheck(buggy)})")
    print(f"buggy row: {row['status']}: {row['message']}")
    print(f"names the component W1[{BAD[0]},{BAD[1]}]: "
          f"{row['message'].startswith(f'W1[{BAD[0]},{BAD[1]}]')}")


if __name__ == "__main__":
    main()
