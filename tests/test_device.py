"""``--device`` (issue 21): PyTorch and JAX on the CPU unless asked, on a GPU when asked, and the
device named in ``timing.csv`` and the report. Tests that need a GPU are skipped without one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffcmp.cases import load_cases
from diffcmp.cli import main
from diffcmp.engines import devices
from diffcmp.errors import DiffcmpError, UnsupportedError
from diffcmp.precision import engine_device
from diffcmp.registry import get_engine
from diffcmp.report.markdown import render_markdown
from diffcmp.result import Result
from diffcmp.run.evaluate import evaluate
from diffcmp.run.options import Options
from diffcmp.symbolic.problem import lower

ROOT = Path(__file__).resolve().parents[1]
CUDA = torch.cuda.is_available()
needs_gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
no_gpu = pytest.mark.skipif(CUDA, reason="checks the machine without a GPU")


def test_the_device_is_pytorchs_and_jaxs_and_the_cpu_by_default() -> None:
    assert Options().device == "cpu"
    assert engine_device("torch[float32]", "cuda") == "cuda"
    assert engine_device("jax-fwd", "cuda") == "cuda"
    assert engine_device("sympy", "cuda") == engine_device("fd-central", "cuda") == "cpu"
    assert get_engine("torch", device="cuda").device == "cuda"
    assert get_engine("matcalc", device="cuda").device == "cpu"
    with pytest.raises(DiffcmpError, match="unknown device 'gpu'"):
        Options(device="gpu")


def test_jax_is_pinned_to_the_cpu_unless_asked() -> None:
    env: dict[str, str] = {}
    devices.prepare_environment("cpu", env)
    assert env == {"JAX_PLATFORMS": "cpu"}
    env = {"JAX_PLATFORMS": "cuda"}  # the user's own setting stays
    devices.prepare_environment("cpu", env)
    assert env == {"JAX_PLATFORMS": "cuda"}
    env = {}
    devices.prepare_environment("cuda", env)  # JAX shares the GPU with PyTorch
    assert env == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def test_timing_names_the_device_of_each_engine() -> None:
    case = load_cases(ROOT / "cases" / "seed_linear_regression.toml")[0]
    result = evaluate(case, Options(engines=("torch", "jax", "sympy"), min_time=0.001))
    assert {row["device"] for row in result.timing} == {"cpu"}
    assert {row["engine"] for row in result.timing} == {"reference", "torch", "jax", "sympy"}
    tables = Result.from_cases([result], Options(engines=("torch", "jax", "sympy")), 0.0)
    assert list(tables.timing.columns)[-1] == "device"
    assert tables.meta["engines"]["torch"]["device"] == "cpu"
    assert tables.meta["engines"]["torch"]["dtype"] == "float64"
    text = render_markdown(tables)
    tolerances = text[text.index("## Tolerances"):]
    header = next(line for line in tolerances.splitlines() if line.startswith("| engine "))
    assert [cell.strip() for cell in header.split("|")[1:5]] == ["engine", "device", "dtype",
                                                                 "tolerance"]
    torch_row = next(line for line in tolerances.splitlines() if line.startswith("| torch "))
    assert [cell.strip() for cell in torch_row.split("|")[1:4]] == ["torch", "cpu", "float64"]
    assert "dtype float64 everywhere (JAX with x64 enabled locally); PyTorch and JAX on cpu" \
        in text


@no_gpu
def test_cuda_asked_for_and_absent_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # what the run would set
    code = main(["run", str(ROOT / "cases" / "seed_linear_regression.toml"), "--device", "cuda",
                 "--engines", "torch,jax", "--out", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --device cuda asked for, but CUDA is not available: PyTorch sees no CUDA device "
        "(torch.cuda.is_available() is False); JAX has no GPU device (jax.devices('gpu') "
        "fails: is jax[cuda12] installed?)"]
    assert not (tmp_path / "out").exists()  # nothing ran


@no_gpu
def test_an_engine_asked_for_a_missing_gpu_is_unsupported() -> None:
    problem = lower(load_cases(ROOT / "cases" / "seed_linear_regression.toml")[0])
    for name in ("torch", "jax[float32]"):
        with pytest.raises(UnsupportedError, match="device cuda"):
            get_engine(name, device="cuda").prepare(problem)
    assert devices.missing("cuda", ["sympy"]) == []  # no framework that needs one
    assert len(devices.missing("cuda", ["torch", "jax"])) == 2


@needs_gpu
def test_pytorch_and_jax_on_the_gpu_agree_and_are_timed_there() -> None:
    case = load_cases(ROOT / "cases" / "ml_logistic_regression.toml")[0]
    options = Options(engines=("torch", "jax"), dtypes=("float64", "float32"), device="cuda",
                      min_time=0.01)
    result = evaluate(case, options)
    assert {r["status"] for r in result.agreement} == {"ok"}
    devices_seen = {(r["engine"], r["device"]) for r in result.timing if r["phase"] == "grad"}
    assert devices_seen == {("reference", "cpu"), ("torch", "cuda"), ("torch[float32]", "cuda"),
                            ("jax", "cuda"), ("jax[float32]", "cuda")}
