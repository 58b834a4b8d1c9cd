"""Timing: blocks, warm-up, median and IQR on a fake clock; preparation kept out of loss/grad."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from itertools import cycle

import numpy as np
import pytest
import torch

import diffcmp
from diffcmp.api import Options, run_cases
from diffcmp.errors import DiffcmpError
from diffcmp.run.timing import BLOCK_S, MIN_BLOCKS, block_size, clock_resolution, measure


class FakeClock:
    """A clock that only moves when the timed function runs: each call costs the next duration."""

    def __init__(self, costs: Iterator[float]) -> None:
        self.now = 0.0
        self.costs = costs
        self.calls = 0
        self.gc_during_calls: set[bool] = set()

    def __call__(self) -> float:
        return self.now

    def call(self) -> None:
        self.now += next(self.costs)
        self.calls += 1
        self.gc_during_calls.add(gc.isenabled())


def test_a_block_lasts_at_least_the_block_time() -> None:
    clock = FakeClock(cycle([1e-6]))
    n, seconds = block_size(clock.call, block_s=1e-3, clock=clock)
    assert seconds >= 1e-3
    assert n * 1e-6 == pytest.approx(seconds)
    assert n < 2 * 1e-3 / 1e-6 * 1.2  # no gross overshoot


def test_the_block_is_far_above_the_clock_resolution() -> None:
    assert BLOCK_S >= 10_000 * clock_resolution()


def test_warm_up_is_not_measured_and_the_median_is_the_per_call_time() -> None:
    # the first call is a one-off 2 s (a cold cache, lazy initialisation); then 10 µs a call
    costs = iter([2.0, *[10e-6] * 1_000_000])
    clock = FakeClock(costs)
    m = measure(clock.call, min_time=0.05, block_s=1e-3, clock=clock)
    assert m.median_s == pytest.approx(10e-6)
    assert m.iqr_s == pytest.approx(0.0, abs=1e-18)
    assert m.total_s >= 0.05
    assert m.runs * 10e-6 == pytest.approx(m.total_s)
    assert m.runs % m.blocks == 0 and m.runs // m.blocks >= 100  # >= 1 ms blocks of 10 µs


def test_median_and_iqr_over_blocks_with_known_values() -> None:
    # block_s below one call, so a block is one call: per-block times are 1, 2, 3, 4, 5 ms ...
    costs = cycle([1e-3, 2e-3, 3e-3, 4e-3, 5e-3])
    clock = FakeClock(costs)
    m = measure(clock.call, min_time=0.0249, block_s=1e-4, clock=clock)
    # warm-up takes 1 ms; blocks are then 2,3,4,5,1,2,3,4,5 ms: 29 ms >= 24.9 ms after 9
    assert m.blocks == 9 and m.runs == 9
    expected = np.array([2, 3, 4, 5, 1, 2, 3, 4, 5]) * 1e-3
    q1, median, q3 = np.percentile(expected, [25, 50, 75])
    assert m.median_s == pytest.approx(median)
    assert m.iqr_s == pytest.approx(q3 - q1)
    assert m.total_s == pytest.approx(expected.sum())


def test_one_outlier_block_does_not_move_the_median() -> None:
    costs = iter([1e-3] * 20 + [1.0] + [1e-3] * 1000)  # a 1 s stall in the middle
    clock = FakeClock(costs)
    m = measure(clock.call, min_time=0.05, block_s=1e-4, clock=clock)
    assert m.median_s == pytest.approx(1e-3)
    assert m.iqr_s == pytest.approx(0.0, abs=1e-18)


def test_slow_calls_still_get_the_minimum_number_of_blocks() -> None:
    clock = FakeClock(cycle([0.5]))
    m = measure(clock.call, min_time=0.2, block_s=1e-4, clock=clock)
    assert m.blocks == MIN_BLOCKS
    assert clock.calls == 1 + MIN_BLOCKS  # warm-up, then the sizing trial kept as a block


def test_the_garbage_collector_is_paused_during_blocks_and_restored() -> None:
    clock = FakeClock(cycle([1e-4]))
    assert gc.isenabled()
    measure(clock.call, min_time=0.01, block_s=1e-3, clock=clock)
    assert gc.isenabled()
    assert False in clock.gc_during_calls  # the measured calls ran with gc paused


@pytest.mark.parametrize("min_time", [0.0, -1.0, float("nan")])
def test_a_non_positive_min_time_is_refused(min_time: float) -> None:
    with pytest.raises(DiffcmpError, match="min_time must be positive"):
        measure(lambda: None, min_time=min_time)


def test_real_clock_measures_a_sleep() -> None:
    import time

    m = measure(lambda: time.sleep(0.002), min_time=0.02)
    assert 0.002 <= m.median_s < 0.02
    assert m.blocks >= MIN_BLOCKS


def _timing(result: diffcmp.Result, engine: str) -> dict[str, float]:
    rows = result.timing[result.timing["engine"] == engine]
    return dict(zip(rows["phase"], rows["median_s"], strict=True))


def test_jax_compile_time_stays_out_of_grad() -> None:
    """XLA compiles for far longer than one call of the compiled gradient takes."""
    case = diffcmp.Case(name="net", loss="sum(tanh(X @ w) * exp(-w**2)) + log1p(sum(w**4))",
                        params={"w": np.linspace(-1.0, 1.0, 6)},
                        data={"X": np.random.default_rng(0).standard_normal((6, 6))})
    result = run_cases([case], Options(engines=("jax",), min_time=0.05))
    assert set(result.agreement["status"]) == {"ok"}
    phases = _timing(result, "jax")
    assert {"prepare: trace", "prepare: compile", "prepare: first call", "loss",
            "grad"} <= set(phases)
    compile_s = phases["prepare: compile"]
    assert phases["grad"] < compile_s / 100, phases
    # tracing is kept out too, and the first call after compiling is a prepare step
    assert phases["grad"] < phases["prepare: trace"] / 10, phases


def test_torch_runs_on_the_threads_asked_for_and_the_report_says_so() -> None:
    before = torch.get_num_threads()
    try:
        case = diffcmp.Case(name="q", loss="(w*x - y)**2", params={"w": 1.0},
                            data={"x": 1.0, "y": 2.0})
        result = run_cases([case], Options(engines=("torch",), min_time=0.01, threads=2))
        assert torch.get_num_threads() == 2
        assert result.meta["environment"]["torch_threads"] == 2
        text = result.to_markdown()
        assert "PyTorch runs on 2 threads (`--threads`)" in text
        assert "- PyTorch threads: 2;" in text
    finally:
        torch.set_num_threads(before)


def test_jax_compiles_the_loss_alone_only_when_it_is_timed() -> None:
    """Grading needs only ``value_and_grad``; the loss alone is compiled on its first call (the
    timer's warm-up), into the same prepare step."""
    from diffcmp.engines.jax_autograd import JaxEngine
    from diffcmp.symbolic.problem import lower

    problem = lower(diffcmp.Case(name="q", loss="sum(w**2)", params={"w": [1.0, 2.0]}))
    prepared = JaxEngine().prepare(problem)
    compiled = prepared.prepare_s["compile"]
    inputs = prepared.inputs(problem.point)
    assert prepared.read(prepared.grad(inputs))[0] == 5.0
    assert prepared.prepare_s["compile"] == compiled
    assert float(prepared.loss(inputs)) == 5.0
    assert prepared.prepare_s["compile"] > compiled
