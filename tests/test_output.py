"""Nothing lost: reports are moved into place whole, never over what diffcmp did not write;
without --out each run gets its own timestamped folder and reports/latest follows the newest."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import diffcmp
from diffcmp import Result, cli
from diffcmp.api import Options, run_cases
from diffcmp.errors import OutputError
from diffcmp.report import folder as output
from diffcmp.report.folder import MARKER, check_out, point_latest, write_new_report, write_report


@pytest.fixture(scope="module")
def result() -> Result:
    """The reference alone: its report has no plot to draw, so that the many folders written
    here are quick to write (plots in report folders: test_report)."""
    case = diffcmp.Case(name="square", loss="w**2", params={"w": 3.0})
    return run_cases([case], Options(engines=("reference",), timing=False))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_new_folder_is_written_with_its_marker(result: Result, tmp_path: Path) -> None:
    out = write_report(result, tmp_path / "a" / "b")
    assert out == tmp_path / "a" / "b"
    names = set((out / MARKER).read_text().split())
    assert {"report.md", "results.json", "agreement.csv"} <= names
    assert {p.name for p in out.iterdir()} == names | {MARKER}
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]  # nothing else left


def test_an_empty_folder_is_used(result: Result, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_report(result, tmp_path / "empty")
    assert (tmp_path / "empty" / "report.md").is_file()


def test_a_folder_with_foreign_files_is_never_touched(result: Result, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    for force in (False, True):
        with pytest.raises(OutputError, match="holds files diffcmp did not write; choose "
                                              "another --out"):
            write_report(result, mine, force=force)
    assert snapshot(mine) == {"notes.txt": b"precious"}


def test_a_report_with_a_foreign_file_added_is_never_replaced(result: Result,
                                                              tmp_path: Path) -> None:
    out = write_report(result, tmp_path / "r")
    (out / "my_analysis.ipynb").write_text("{}")
    before = snapshot(out)
    with pytest.raises(OutputError, match=r"holds files diffcmp did not write "
                                          r"\(my_analysis.ipynb\)"):
        write_report(result, out, force=True)
    assert snapshot(out) == before


def test_an_earlier_report_needs_force(result: Result, tmp_path: Path) -> None:
    out = write_report(result, tmp_path / "r")
    (out / "report.md").write_text("old")
    with pytest.raises(OutputError, match="holds an earlier diffcmp report; pass --force"):
        write_report(result, out)
    assert (out / "report.md").read_text() == "old"
    write_report(result, out, force=True)
    assert (out / "report.md").read_text() != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_links_and_files_are_refused(result: Result, tmp_path: Path) -> None:
    target = write_report(result, tmp_path / "real")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OutputError, match="is a symbolic link; give the folder itself"):
        write_report(result, tmp_path / "link", force=True)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="is a symbolic link"):
        write_report(result, tmp_path / "dangling")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        write_report(result, tmp_path / "file", force=True)
    assert not (tmp_path / "nowhere").exists()


def test_a_forged_or_unreadable_marker_counts_as_foreign(result: Result, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / MARKER).mkdir()
    (folder / "data.csv").write_text("1")
    with pytest.raises(OutputError, match="diffcmp did not write"):
        write_report(result, folder, force=True)
    assert (folder / "data.csv").read_text() == "1"


def test_a_failed_rename_keeps_the_old_report(result: Result, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = write_report(result, tmp_path / "r")
    before = snapshot(out)

    def refuse(a: object, b: object) -> bool:
        raise OutputError(f"{b}: the earlier report cannot be replaced (Permission denied); "
                          "it is unchanged")

    monkeypatch.setattr(output, "_exchange", refuse)
    with pytest.raises(OutputError, match="cannot be replaced"):
        write_report(result, out, force=True)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_the_fallback_swap_puts_the_old_report_back(result: Result, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an atomic exchange: aside, in, and on failure (even Ctrl-C) back again."""
    out = write_report(result, tmp_path / "r")
    (out / "report.md").write_text("old")
    before = snapshot(out)
    monkeypatch.setattr(output, "_exchange", lambda a, b: False)
    real_rename = os.rename
    for failure in (OSError(28, "No space left on device"), KeyboardInterrupt()):
        def rename(a: os.PathLike[str], b: os.PathLike[str], failure: BaseException = failure
                   ) -> None:
            if Path(b) == out and ".old" not in Path(a).name:  # the new report moving in
                raise failure
            real_rename(a, b)

        monkeypatch.setattr(os, "rename", rename)
        with pytest.raises((OutputError, KeyboardInterrupt)):
            write_report(result, out, force=True)
        assert snapshot(out) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    monkeypatch.setattr(os, "rename", real_rename)
    write_report(result, out, force=True)  # and the fallback works
    assert (out / "report.md").read_text() != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_an_interrupt_while_writing_leaves_nothing(result: Result, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = write_report(result, tmp_path / "r")
    before = snapshot(out)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(type(result.agreement), "to_csv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(result, out, force=True)
    with pytest.raises(KeyboardInterrupt):
        write_report(result, tmp_path / "new")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_concurrent_writers_leave_one_whole_report(result: Result, tmp_path: Path) -> None:
    out = tmp_path / "r"
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(3):
                write_report(result, out, force=True)
        except OutputError as exc:  # another writer created it first: refused, nothing lost
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = set((out / MARKER).read_text().split())
    assert {p.name for p in out.iterdir()} == written | {MARKER}
    assert Result.from_json((out / "results.json").read_text()).agreement.shape == \
        result.agreement.shape
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert all("cannot be created" in str(e) for e in errors)


def test_each_run_gets_its_own_folder_and_latest_follows(result: Result, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    folders = [write_new_report(result, reports) for _ in range(3)]  # within one second
    assert len(set(folders)) == 3
    assert all(f.name.startswith("run-") for f in folders)
    assert sorted(folders) == folders  # names sort in the order the runs finished
    for folder in folders:
        assert point_latest(folder)
    assert os.readlink(reports / "latest") == folders[-1].name
    assert point_latest(folders[0])  # an older run finishing late does not take it back
    assert os.readlink(reports / "latest") == folders[-1].name
    assert sorted(p.name for p in reports.iterdir()) == sorted(
        [f.name for f in folders] + ["latest"])


def test_latest_that_is_not_a_link_is_left_alone(result: Result, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (reports / "latest").mkdir(parents=True)
    (reports / "latest" / "mine.txt").write_text("x")
    folder = write_new_report(result, reports)
    assert not point_latest(folder)
    assert (reports / "latest" / "mine.txt").read_text() == "x"


def test_run_without_out_writes_a_timestamped_folder(result: Result, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "one.toml"
    case.write_text('loss = "w**2"\n[params]\nw = 1.0\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "run_suite", lambda *args, **kwargs: result)  # the writing is tested
    for _ in range(2):
        assert cli.main(["run", str(case), "--no-timing", "--engines", "sympy"]) == 0
    runs = sorted(p for p in (tmp_path / "reports").iterdir() if p.name.startswith("run-"))
    assert len(runs) == 2
    assert os.readlink(tmp_path / "reports" / "latest") == runs[-1].name
    assert f"report: reports/{runs[-1].name}/report.md" in capsys.readouterr().out


def test_a_bad_out_fails_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")

    def no_running(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run started")

    monkeypatch.setattr(cli, "run_suite", no_running)
    assert cli.main(["run", "cases", "--out", str(mine), "--force"]) == 2
    assert "error: " in capsys.readouterr().err
    assert (mine / "thesis.tex").read_text() == "precious"
    with pytest.raises(OutputError):
        check_out(mine)


def test_a_file_written_in_the_instant_before_the_swap_is_kept(
        result: Result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = write_report(result, tmp_path / "r")
    real_check = output.check_out
    calls: list[object] = []

    def late_writer(folder: object, force: bool = False) -> Path:
        checked = real_check(folder, force)
        calls.append(folder)
        if len(calls) == 2:  # after the last check, before the swap: someone saves a file
            (checked / "late.txt").write_text("mine")
        return checked

    monkeypatch.setattr(output, "check_out", late_writer)
    with pytest.raises(OutputError, match="appeared in it while the report was written"):
        write_report(result, out, force=True)
    assert (out / "late.txt").read_text() == "mine"
    assert (out / MARKER).is_file() and (out / "report.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
