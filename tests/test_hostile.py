"""Hostile and malformed case files: a clear error naming file, key or construct and column;
nothing a file holds is ever executed; points where the loss is undefined are results."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import diffcmp
from diffcmp import cli
from diffcmp.api import Options, run_cases
from diffcmp.symbolic.problem import lower

HOSTILE = Path(__file__).resolve().parent / "hostile"

#: Every file of ``tests/hostile`` and the whole message it must give after ``<file>: ``.
EXPECTED = {
    "axis_out_of_range": "loss (column 17): axis 2 is out of range for shape (2, 2) (axes -2 "
                         "to 1)",
    "attribute_call": "loss (column 4): attribute '.system' is not allowed (only .T)",
    "attribute_class": "loss (column 7): attribute '.__class__' is not allowed (only .T)",
    "bad_status": "expect.status.torch = 'fine' is not a status (one of ok, mismatch, nan, "
                  "unsupported, skipped, error, kink, undefined, timeout, unresolved)",
    "boolean_value": "params.w must be a number, not a boolean",
    "broadcast_shapes": "loss (column 5): shapes (3), (2) do not broadcast in '*'",
    "call_eval": "loss (column 1): unknown function 'eval'",
    "call_open": "loss (column 1): unknown function 'open'",
    "comment_only": "is empty: a case needs at least 'loss' and [params]",
    "comparison_outside_where": "loss (column 5): comparisons are allowed only as the condition "
                                "of where()",
    "dunder_import": "loss (column 1): unknown function '__import__'",
    "empty_file": "is empty: a case needs at least 'loss' and [params]",
    "empty_list": "params.w is an empty list",
    "empty_loss": "'loss' is empty",
    "float_index": "loss (column 3): indices must be integer literals or slices of them, like "
                   "w[0], X[1, 2], w[1:3] or X[:, 0]",
    "floor_division": "loss (column 5): operator '//' is not part of the language",
    "fstring": "loss (column 1): an f-string is not part of the language",
    "generator": "loss (column 4): a generator expression is not part of the language",
    "huge_integer": "invalid TOML: Exceeds the limit (4300 digits) for integer string "
                    "conversion",
    "index_out_of_range": "loss (column 3): index 3 is out of range for axis 0 of shape (3) "
                          "(indices lie in -3 to 2)",
    "inf_value": "data.y[2] is -inf: values must be finite numbers",
    "invalid_toml": "invalid TOML: Illegal character '\\n' (at line 1, column 15)",
    "keyword_argument": "loss (column 17): sum()'s keepdims must be True or False",
    "keyword_typo": "loss (column 8): sum() takes no keyword argument 'axes' (only axis); did "
                    "you mean 'axis'?",
    "lambda": "loss (column 2): lambda is not part of the language",
    "list_comprehension": "loss (column 5): a list comprehension is not part of the language",
    "loss_not_string": "'loss' must be a string, not a number",
    "matmul_shapes": "loss (column 6): shapes (3, 2) @ (3) do not match (2 columns vs 3 rows)",
    "missing_loss": "missing key 'loss'",
    "multiline_attribute": "loss: line 2, column 7: attribute '.real' is not allowed (only .T)",
    "name_in_params_and_data": "'x' is in both [params] and [data]",
    "name_os": "loss (column 10): unknown name 'os' (not a param, data or constant)",
    "name_typo": "loss (column 5): unknown name 'ww' (not a param, data or constant); did you "
                 "mean 'w'?",
    "nan_value": "params.w[1] is nan: values must be finite numbers",
    "nested_brackets": "loss: brackets nest 10000 deep; the limit is 100",
    "no_parameter": "the loss uses no parameter (none of w): its gradient is identically zero",
    "non_scalar_loss": "loss: must reduce to a scalar, but has shape (3); wrap it in sum() or "
                       "mean()",
    "not_utf8": "is not UTF-8 text (byte 21)",
    "overflowing_float": "loss (column 5): the number 1e400 does not fit in float64",
    "parameter_cancels": "the loss uses no parameter (none of w): its gradient is identically zero",
    "params_not_table": "[params] must be a table of names and values",
    "power_bomb": "loss (column 4): constant power is too large (about 40,000,000,000 bits; "
                  "the limit is 4096)",
    "ragged_list": "data.X is ragged: data.X[0] has shape (2) but data.X[1] has shape (1)",
    "reserved_name": "[params] name 'sum' is reserved (a function or constant of the "
                     "language)",
    "reshape_mismatch": "loss (column 16): cannot reshape shape (3) (3 elements) into (2, 2) "
                        "(4 elements)",
    "slice_bound": "loss (column 8): slice bound 4 is out of range for axis 0 of shape (3) "
                   "(bounds lie in -3 to 3)",
    "slice_empty": "loss (column 7): the slice 2:1 of axis 0 of shape (3) is empty",
    "slice_index": "loss (column 9): slice bounds must be integer literals, like w[1:3] or "
                   "X[:, 0]",
    "starred_argument": "loss (column 7): atan2() takes no starred arguments",
    "string_literal": "loss (column 10): strings are not part of the language",
    "string_value": "params.w must be a number, not a string",
    "subclasses_escape": "loss (column 27): attribute '.__subclasses__' is not allowed "
                         "(only .T)",
    "ragged_three_dimensions": "params.w[1] is ragged: params.w[1][0] has shape (2) but "
                               "params.w[1][1] has shape (1)",
    "unknown_engine": "tolerance.torchh: unknown engine 'torchh' (known: reference, sympy, "
                      "matcalc, torch, torch-fwd, jax, jax-fwd, fd-central, fd-complex, "
                      "autograd, tensorflow, pytensor, casadi, fd-richardson)",
    "unknown_function": "loss (column 1): unknown function 'tahn'; did you mean 'tanh'?",
    "unknown_key": "unknown key 'los' (allowed: data, description, expect, loss, name, nodes, "
                   "order, params, reference, sample, sweep, tags, tolerance)",
    "walrus": "loss (column 2): the walrus operator ':=' is not part of the language",
    "wrong_arity": "loss (column 1): atan2() takes 2 arguments, got 1",
    "wrong_arity_max": "loss (column 1): max() takes 1 or 2 arguments, got 3",
}


def load_and_lower(path: Path) -> None:
    """What a run does with a file before any engine: load it, build the symbolic loss."""
    for case in diffcmp.load_cases(path):
        lower(case)


def test_the_corpus_is_large_and_every_file_has_its_message() -> None:
    names = sorted(p.stem for p in HOSTILE.glob("*.toml"))
    assert len(names) >= 30
    assert names == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_file_gives_its_own_message(name: str) -> None:
    path = HOSTILE / f"{name}.toml"
    with pytest.raises(diffcmp.CaseError) as caught:
        load_and_lower(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert message[len(f"{path}: "):].startswith(EXPECTED[name])


def test_the_corpus_through_the_command_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", str(HOSTILE), "--out", str(tmp_path / "r"), "--no-timing",
                     "--engines", "sympy", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    for name, message in EXPECTED.items():
        assert f"error: {HOSTILE / name}.toml: {message}" in err


# --- nothing is executed ---------------------------------------------------------------------

#: Ways a loss (or another value) could run code if diffcmp ever evaluated it; each would
#: create the file MARKER.
VECTORS = [
    "__import__('os').system('touch MARKER')",
    "__import__('pathlib').Path('MARKER').touch()",
    "open('MARKER', 'w').write('x')",
    "eval(\"open('MARKER', 'w')\")",
    "exec(\"open('MARKER', 'w')\")",
    "(lambda: open('MARKER', 'w'))()",
    "[open('MARKER', 'w') for _ in [1]]",
    "f\"{open('MARKER', 'w')}\"",
    "().__class__.__base__.__subclasses__()[0].__init__.__globals__['sys']"
    ".modules['os'].system('touch MARKER')",
    "w + breakpoint() + open('MARKER', 'w')",
    "compile(\"open('MARKER','w')\", 'x', 'exec')",
    "getattr(__builtins__, 'open')('MARKER', 'w')",
    "w.__class__.__init__.__globals__",
]


def _hostile_files(folder: Path, marker: Path) -> tuple[list[Path], list[Path]]:
    """TOML files that would create ``marker`` if any string in them were executed: those that
    are errors, and those that are valid cases (code in a name or description is only text)."""
    errors = []
    for i, vector in enumerate(VECTORS):
        path = folder / f"loss_{i}.toml"
        code = vector.replace("MARKER", str(marker))
        path.write_text(f"loss = {_toml_string(code)}\n[params]\nw = 1.0\n")
        errors.append(path)
    touch = _toml_string(f"__import__('os').system('touch {marker}')")
    for key, text in {
        "param_name": f"loss = 'w**2'\n[params]\nw = 1.0\n{touch} = 2.0\n",
        "value": f"loss = 'w**2'\n[params]\nw = {touch}\n",
        "status": f"loss = 'w**2'\n[params]\nw = 1.0\n[expect.status]\ntorch = {touch}\n",
        "tolerance": f"loss = 'w**2'\n[params]\nw = 1.0\n[tolerance]\n{touch} = 1.0\n",
    }.items():
        path = folder / f"{key}.toml"
        path.write_text(text)
        errors.append(path)
    valid = []
    for key in ("name", "description", "tags"):
        path = folder / f"valid_{key}.toml"
        value = f"[{touch}]" if key == "tags" else touch
        path.write_text(f"{key} = {value}\nloss = 'w**2'\n[params]\nw = 1.0\n")
        valid.append(path)
    return errors, valid


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_a_hostile_file_is_never_executed(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "MARKER"
    folder = tmp_path / "cases"
    folder.mkdir()
    errors, valid = _hostile_files(folder, marker)
    for path in errors:
        with pytest.raises(diffcmp.CaseError) as caught:
            load_and_lower(path)
        assert str(caught.value).startswith(f"{path}: ")
        assert not marker.exists(), path
    for vector in VECTORS:  # the library, with every engine, in this process
        code = vector.replace("MARKER", str(marker))
        with pytest.raises(diffcmp.CaseError):
            diffcmp.compare(code, {"w": 1.0}, timing=False)
    result = run_cases([c for path in valid for c in diffcmp.load_cases(path)],
                       Options(timing=False))
    assert set(result.agreement["status"]) == {"ok"}
    assert not marker.exists()
    # and the command line, which loads each file in a worker process (the engines ran above)
    assert cli.main(["run", str(folder), "--out", str(tmp_path / "r"), "--no-timing",
                     "--quiet", "--engines", "sympy"]) == 2
    assert capsys.readouterr().err.count("error: ") == len(errors)
    assert not marker.exists()


# --- undefined points ----------------------------------------------------------------------

UNDEFINED = {
    "log_of_zero": ("log(w) + w", 0.0),
    "one_over_zero": ("1/w", 0.0),
    "sqrt_of_minus_one": ("sqrt(w)", -1.0),
    "zero_times_log_zero": ("w * log(w)", 0.0),
}


@pytest.mark.parametrize("name", sorted(UNDEFINED))
def test_an_undefined_point_is_a_result_that_fails_unless_declared(name: str) -> None:
    loss, point = UNDEFINED[name]
    engines = ("reference", "sympy", "torch", "jax", "fd-central")
    case = diffcmp.Case(name=name, loss=loss, params={"w": point})
    result = run_cases([case], Options(engines=engines, timing=False))
    rows = result.agreement.set_index("engine")
    assert list(rows.index) == list(engines)
    assert set(rows["status"]) == {"undefined"}, rows[["status", "message"]]
    assert rows.loc["reference", "message"].strip()  # the reason
    for engine in engines[1:]:  # every engine's own value is shown beside it
        assert rows.loc[engine, "message"].startswith("reference undefined: ")
        assert not math.isnan(rows.loc[engine, "loss"]) or name in ("sqrt_of_minus_one",
                                                                     "zero_times_log_zero")
    # a result, not a crash; but nothing was graded, so it fails unless declared
    assert result.exit_code == 1 and not result.ok
    assert list(result.failures()["engine"]) == ["reference"]  # said once, by the reference
    declared = diffcmp.Case(name=name, loss=loss, params={"w": point},
                            expect={"status": {"reference": "undefined"}})
    result = run_cases([declared], Options(engines=engines, timing=False))
    assert set(result.agreement["status"]) == {"undefined"}
    assert result.exit_code == 0 and result.ok
    assert run_cases([case], Options(engines=engines, timing=False,
                                     allow_undefined=True)).exit_code == 0
