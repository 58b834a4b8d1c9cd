"""Resource bombs are refused before any real work: each well under a second, without
exhausting memory; the limits are the documented ones."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import diffcmp
from diffcmp import cases as case_module
from diffcmp import lang as language
from diffcmp.symbolic.problem import lower

#: Budget for refusing one bomb (the issue asks for well under a second), in this process's CPU
#: time, which other work on a shared machine does not inflate as it does the wall clock; a
#: bomb that is not refused takes minutes or all the memory.
BUDGET_S = 1.0
#: Python memory a refusal may allocate, on top of the bomb's own text.
MEMORY_BYTES = 100 * 2**20


def refused(build: Callable[[], object], match: str, traced: bool = True) -> tuple[float, int]:
    """Run ``build`` (and lower what it builds); it must raise CaseError matching ``match``.

    Returns the CPU seconds it took, and the peak Python memory of a second, traced run (0 when
    not ``traced``: tracing slows the TOML parser tenfold).
    """
    def attempt() -> None:
        with pytest.raises(diffcmp.CaseError, match=match):
            result = build()
            if isinstance(result, diffcmp.Case):
                lower(result)

    start = time.process_time()
    attempt()
    seconds = time.process_time() - start
    if not traced:
        return seconds, 0
    tracemalloc.start()
    try:
        attempt()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seconds, peak


def write(tmp_path: Path, name: str, loss: str, params: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'loss = "{loss}"\n[params]\n{params}\n')
    return path


def toml_bombs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each TOML bomb and (a regex of) the message that refuses it."""
    half = ", ".join(["1.5"] * (case_module.MAX_TOML_VALUES // 2))
    return {
        "power tower": (write(tmp_path, "tower", "x**10**10**10", "x = 1.0"),
                        r"loss \(column 4\): constant power is too large"),
        "power of a parenthesised tower": (
            write(tmp_path, "tower2", "x * (9**9**9**9)", "x = 1.0"),
            "constant power is too large"),
        "brackets 10,000 deep": (
            write(tmp_path, "nested", "(" * 10_000 + "x" + ")" * 10_000, "x = 1.0"),
            "brackets nest 10000 deep; the limit is 100"),
        "calls 10,000 deep": (
            write(tmp_path, "calls", "sin(" * 10_000 + "x" + ")" * 10_000, "x = 1.0"),
            "brackets nest 10000 deep"),
        "a chain of 30,000 additions": (
            write(tmp_path, "chain", "+".join(["x"] * 30_000), "x = 1.0"),
            "nests too deeply to parse"),
        "a 50 MB expression": (
            write(tmp_path, "huge", "x+" * 25_000_000 + "x", "x = 1.0"),
            "is over 2,000,000 bytes, the limit"),
        "a 10-million-element array": (
            write(tmp_path, "array", "sum(w)", "w = [" + "0," * 10_000_000 + "0]"),
            "is over 2,000,000 bytes, the limit"),
        "a million-element array in 2 MB": (
            write(tmp_path, "dense", "sum(w)", "w = [" + "0," * 900_000 + "0]"),
            r"holds about 900,\d+ values; a TOML case holds at most 50,000 numbers"),
        "an outer product of the largest vectors": (
            write(tmp_path, "outer", "sum(w * v.T)", f"w = [{half}]\n[data]\nv = [[{half}]]"),
            "takes about 1,250,000,000 operations on elements; the limit is 100,000,000"),
        "an exact integer overflowing float64": (
            write(tmp_path, "big_int", "x * 2**1100", "x = 1.0"),
            r"loss \(column 5\): a constant overflows float64"),
        "a 5000-digit literal": (
            write(tmp_path, "digits", "x * " + "9" * 5000, "x = 1.0"),
            r"Exceeds the limit \(4300 digits\)"),
        "TOML nested 10,000 deep": (
            write(tmp_path, "deep_toml", "sum(w)", "w = " + "[" * 10_000 + "]" * 10_000),
            "invalid TOML: nested too deeply"),
    }


def test_toml_bombs_are_refused_quickly_and_small(tmp_path: Path) -> None:
    for name, (path, match) in toml_bombs(tmp_path).items():
        # the largest array is parsed before it is refused: its memory is the file's, 2 MB
        traced = name != "an outer product of the largest vectors"
        seconds, peak = refused(lambda p=path: diffcmp.load_case(p), match, traced)
        assert seconds < BUDGET_S, f"{name}: {seconds:.2f} s"
        assert peak < MEMORY_BYTES, f"{name}: {peak / 2**20:.0f} MB"


def test_python_api_bombs_are_refused_quickly_and_small() -> None:
    big = np.zeros(10_000_000)
    bombs: dict[str, tuple[Callable[[], object], str]] = {
        "a 50 MB expression": (
            lambda: diffcmp.Case(name="x", loss="x+" * 25_000_000 + "x", params={"x": 1.0}),
            "is 50,000,001 characters long; the limit is 100,000"),
        "a 10-million-element array": (
            lambda: diffcmp.Case(name="x", loss="sum(w)", params={"w": big}),
            "params.w has 10,000,000 elements; the limit is 5,000,000"),
        "a 10-million-element list of lists": (
            lambda: diffcmp.Case(name="x", loss="sum(w)", params={"w": [[0.0] * 10_000] * 1000}),
            "params.w has 10,000,000 elements"),
        "a 10-million-element list": (
            lambda: diffcmp.Case(name="x", loss="sum(w)", params={"w": [0.0] * 10_000_000}),
            "params.w has 10,000,000 elements"),
        "an outer product of two 50,000-vectors": (
            lambda: diffcmp.Case(name="x", loss="sum(w * v)", params={"w": big[:50_000]},
                                 data={"v": big[:50_000].reshape(-1, 1)}),
            "takes about 5,000,000,000 operations on elements; the limit is 100,000,000"),
        "a list nested 10,000 deep": (
            lambda: diffcmp.Case(name="x", loss="sum(w)", params={"w": _deep(10_000)}),
            "params.w has more than 32 dimensions"),
    }
    for name, (build, match) in bombs.items():
        seconds, peak = refused(build, match)
        assert seconds < BUDGET_S, f"{name}: {seconds:.2f} s"
        assert peak < MEMORY_BYTES, f"{name}: {peak / 2**20:.0f} MB"


def _deep(depth: int) -> list[object]:
    value: list[object] = [1.0]
    for _ in range(depth):
        value = [value]
    return value


def test_the_limits_are_the_documented_ones() -> None:
    assert language.MAX_SOURCE_CHARS == 100_000
    assert language.MAX_NODES == 20_000
    assert language.MAX_DEPTH == 100
    assert language.MAX_LITERAL_BITS == 4096
    assert language.MAX_SCALAR_OPS == 100_000
    assert case_module.MAX_FILE_BYTES == 2_000_000
    assert language.MAX_ARRAY_OPS == 100_000_000
    assert case_module.MAX_ARRAY_ELEMENTS == case_module.MAX_CASE_ELEMENTS == 5_000_000
    assert case_module.MAX_TOML_VALUES == 50_000


def test_a_case_at_the_limits_still_loads_quickly(tmp_path: Path) -> None:
    """The largest array a file may hold loads (and is checked) well under a second."""
    rng = np.random.default_rng(0)
    values = ", ".join(repr(float(v)) for v in rng.normal(size=case_module.MAX_TOML_VALUES - 1))
    path = tmp_path / "big.toml"
    path.write_text(f'loss = "w * sum(y)"\n[params]\nw = 1.0\n[data]\ny = [{values}]\n')
    start = time.process_time()
    case = diffcmp.load_case(path)
    assert time.process_time() - start < BUDGET_S
    assert case.data["y"].size == case_module.MAX_TOML_VALUES - 1


def test_analysis_counts_scalar_operations() -> None:
    expression = language.parse("sum((X @ w - y)**2) / 2")
    analysis = language.analyze(expression, {"X": (200, 20), "w": (20,), "y": (200,)})
    assert analysis.shape == ()
    # matmul 2*200*20, sub 200, pow 200, sum 200, div 1
    assert analysis.scalar_ops == 8000 + 200 + 200 + 200 + 1
    assert language.analyze(language.parse("prod(w) + max(w)"), {"w": (10,)}).scalar_ops == 201


def test_constant_arithmetic_stays_exact_and_bounded() -> None:
    problem = lower(diffcmp.Case(name="c", loss="x * 2**100 / 2**100 + 10**-3", params={"x": 1.0}))
    assert str(problem.loss) == "x + 1/1000"
    for loss, match in [("x * 1e308 * 10", None), ("1e308 * 10 * x", "overflows float64"),
                        ("x + 2**-5000", "constant power is too large"),
                        ("x + 2**1000 * 2**1000", "overflows float64"),
                        ("x + " + "9" * 1200,
                         r"the number 9{20}\.\.\. \(1200 digits\) does not fit"),
                        ("x + 1/0", "division by zero in a constant"),
                        ("x + (-8)**(1/3)", "not real")]:
        if match is None:
            diffcmp.Case(name="c", loss=loss, params={"x": 1.0})  # not folded: x comes first
            continue
        with pytest.raises(diffcmp.ExpressionError, match=match):
            diffcmp.Case(name="c", loss=loss, params={"x": 1.0})
