"""The pytest plugin (``pytest11`` entry point ``diffcmp.pytest_plugin``, named like the module so
that ``-p diffcmp.pytest_plugin`` also works once installed; ``-p no:diffcmp.pytest_plugin``
turns it off): case files as test items.

``pytest cases/`` or ``pytest path/to/case.toml`` collects every case as one test item, which
fails with the same few lines as :func:`diffcmp.assert_gradients_agree` (engine, status, worst
component, both values, error, tolerance). Options ``--diffcmp-engines A,B`` and
``--diffcmp-timeout SECONDS``; their defaults come from ``[tool.diffcmp]`` in the nearest
``pyproject.toml`` (``engines``, ``timeout``, ``tolerance``; ``paths`` narrows what is
collected), else diffcmp's own.

What is collected, so that nothing is run by accident:

* a TOML file only when it is a diffcmp case (a top-level ``loss`` and a ``[params]`` table;
  ``pyproject.toml`` never);
* a Python file only when it defines ``CASE`` or ``CASES`` at top level (read from its syntax
  tree, without running it) and was named on the command line, itself or a folder above it:
  a folder pytest walks because of ``testpaths`` never turns research code into a case file;
* a case file found by walking a folder only inside ``[tool.diffcmp] paths`` when that is set
  (a file named on the command line is always collected).

The selected case files run together, the first time one of their items runs, in one worker
process with diffcmp's time and memory limits (:func:`~diffcmp.run.isolation.run_files`), timing
off; each item then reports its case.

Speed: the plugin is loaded in every pytest session, so it imports diffcmp's heavy parts (SymPy,
pandas, the engines) only once a case file is collected. A run whose command-line paths hold
only case files (``pytest cases/seed_linear_regression.toml``):

* starts its worker process as pytest configures, having imported only the standard library
  and diffcmp's settings (:mod:`diffcmp.run.worker`), so that the worker's imports (PyTorch and
  JAX: most of the run's time) overlap pytest's start-up and collection;
* is not distributed by pytest-xdist: its cases run together in one worker process anyway, and
  each xdist process would import every library and run every selected case again;
* sets aside plugins that such a session never uses but that would import their library anyway
  (:data:`UNUSED_IN_CASE_SESSIONS`: Hypothesis's, for its terminal summary).

``python benchmarks/pytest_case_file.py`` measures it.
"""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import DiffcmpError

if TYPE_CHECKING:
    from .run.options import Options
    from .run.rows import CaseResult

_SETTINGS = pytest.StashKey[Any]()
_ONLY_CASES = pytest.StashKey[bool]()
_WORKER = pytest.StashKey[Any]()
_RESULTS = pytest.StashKey["list[CaseResult]"]()
#: A case file is read whole only below this size (``diffcmp.cases.toml.MAX_FILE_BYTES``, which
#: ``tests/test_plugin.py`` checks it equals; imported from there it would load SymPy).
MAX_FILE_BYTES = 2_000_000


class CaseFailedError(Exception):
    """A case whose engines disagree (its message is the short failure text)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--diffcmp-engines`` and ``--diffcmp-timeout``."""
    group = parser.getgroup("diffcmp", "diffcmp case files")
    group.addoption("--diffcmp-engines", metavar="A,B", default=None,
                    help="engines to run on collected case files (default: [tool.diffcmp] "
                    "engines, else all); the reference always runs")
    group.addoption("--diffcmp-timeout", metavar="SECONDS", type=float, default=None,
                    help="seconds a case may take before it is stopped as 'timeout' (default: "
                    "[tool.diffcmp] timeout, else 300)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Read the settings once: flags, then ``[tool.diffcmp]``, then defaults; and run a session
    of case files only in this process (see the module docstring)."""
    only = _only_case_files(config)
    config.stash[_ONLY_CASES] = only
    if only:
        if getattr(config.option, "dist", "no") != "no":
            config.option.dist, config.option.tx, config.option.numprocesses = "no", [], 0
        _set_aside_unused_plugins(config)
    from .config import check_engines, resolve

    engines = config.getoption("diffcmp_engines")
    timeout = config.getoption("diffcmp_timeout")
    try:
        if engines is not None:
            engines = check_engines(engines, "--diffcmp-engines")
        if timeout is not None and not timeout > 0:
            raise DiffcmpError("--diffcmp-timeout must be a positive number of seconds")
        config.stash[_SETTINGS] = resolve({"engines": engines, "timeout": timeout})
    except DiffcmpError as exc:
        raise pytest.UsageError(f"diffcmp: {exc}") from None
    _start_worker(config)


#: Other projects' plugins that a session of case files never uses (it has no Python test) and
#: that would import their whole library anyway: Hypothesis's terminal summary imports Hypothesis
#: (about 0.8 s, as pytest rewrites the asserts of a plugin's package).
UNUSED_IN_CASE_SESSIONS = ("hypothesispytest",)


def _set_aside_unused_plugins(config: pytest.Config) -> None:
    """Unregister :data:`UNUSED_IN_CASE_SESSIONS` in a session of case files only (their
    ``pytest_configure`` still runs, as it was already under way; nothing of theirs later)."""
    manager = config.pluginmanager
    for name in UNUSED_IN_CASE_SESSIONS:
        plugin = manager.get_plugin(name)
        if plugin is not None:
            manager.unregister(plugin, name)


def _start_worker(config: pytest.Config) -> None:
    """In a session of case files only, start the worker process now, without waiting: its
    imports (PyTorch, JAX) overlap pytest's own start-up and collection instead of following
    them."""
    if not config.stash[_ONLY_CASES] or config.getoption("collectonly"):
        return
    from .run.limits import default_memory_limit
    from .run.worker import Worker  # the standard library only: the worker starts at once

    try:
        config.stash[_WORKER] = Worker(_options(config.stash[_SETTINGS]),
                                       default_memory_limit(), wait=False)
    except DiffcmpError:
        pass  # started again, and its failure reported, when a case runs


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop a worker started for cases that never ran (deselected, or none collected)."""
    worker = config.stash.get(_WORKER, None)
    if worker is not None:
        del config.stash[_WORKER]
        worker.stop()


def _named(config: pytest.Config, path: Path) -> tuple[bool, bool]:
    """Whether ``path`` was named on the command line itself, and whether it lies under a path
    named there (``testpaths`` and ``python_files`` do not count)."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False, False
    itself, under = False, False
    for arg in config.args:
        named = Path(arg.split("::")[0])
        named = (named if named.is_absolute() else config.invocation_params.dir / named).resolve()
        if named == path:
            itself = True
        if named == path or named in path.parents:
            under = True
    return itself, under


def _only_case_files(config: pytest.Config) -> bool:
    """Whether every path named on the command line is a case file or a folder without test
    modules (pytest's ``python_files``): nothing for pytest-xdist to share out."""
    if config.args_source != pytest.Config.ArgsSource.ARGS or not config.args:
        return False
    for arg in config.args:
        path = Path(arg.split("::")[0])
        path = path if path.is_absolute() else config.invocation_params.dir / path
        if path.is_dir():
            if any(_is_test_module(config, p) or p.name == "conftest.py"
                   for p in path.rglob("*.py")):
                return False
        elif not (path.suffix == ".toml" or (path.suffix == ".py" and
                                             not _is_test_module(config, path)
                                             and _defines_cases(path))):
            return False
    return True


def _in_configured_paths(config: pytest.Config, path: Path) -> bool:
    paths = config.stash[_SETTINGS]["paths"]
    if not paths:
        return True
    for entry in map(lambda p: Path(p).resolve(), paths):
        if entry == path or entry in path.parents:
            return True
    return False


def _is_case_toml(path: Path) -> bool:
    if path.name == "pyproject.toml":
        return False
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
        table = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, RecursionError):
        return False
    return "loss" in table and isinstance(table.get("params"), dict)


def _defines_cases(path: Path) -> bool:
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id in ("CASE", "CASES") for t in targets):
            return True
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A :class:`CaseFile` for a diffcmp case file (see the module docstring)."""
    if file_path.suffix not in (".toml", ".py"):
        return None
    config = parent.config
    path = file_path.resolve()
    itself, under = _named(config, path)
    if not itself and not _in_configured_paths(config, path):
        return None
    if file_path.suffix == ".toml":
        wanted = (itself and path.name != "pyproject.toml") or _is_case_toml(path)
    else:  # a test module (test_*.py, per pytest's python_files) is pytest's, never a case file
        wanted = under and not _is_test_module(config, path) and _defines_cases(path)
    return CaseFile.from_parent(parent, path=file_path) if wanted else None


def _is_test_module(config: pytest.Config, path: Path) -> bool:
    patterns = config.getini("python_files") or ["test_*.py", "*_test.py"]
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)


class CaseFile(pytest.File):
    """One case file: one item per case."""

    def collect(self) -> Iterator[pytest.Item]:
        """Load the file (a Python case file runs here, as a test module would) and name its
        cases."""
        from .cases import load_cases

        try:
            cases = load_cases(self.path)
        except DiffcmpError as exc:
            raise self.CollectError(f"diffcmp: {exc}") from None
        except SystemExit as exc:  # a Python case file that exits is a broken case file
            raise self.CollectError(f"diffcmp: {self.path}: exited ({exc})") from None
        for case in cases:
            yield CaseItem.from_parent(self, name=case.name)


class CaseItem(pytest.Item):
    """One case: passes when every engine agrees and every expectation holds."""

    def runtest(self) -> None:
        """Run (once per session) the selected case files, then judge this case."""
        from .report.short import failure_message
        from .result import Result

        path = self.path.resolve()
        results = [r for r in _session_results(self.session) if r.case == self.name]
        found = [r for r in results if r.source and Path(r.source).resolve() == path] or results
        if not found:
            raise CaseFailedError(f"diffcmp: case {self.name!r} did not run")
        result = Result.from_cases(found[:1], _options(self.config.stash[_SETTINGS]), 0.0)
        if not result.ok or result.exit_code:
            raise CaseFailedError(failure_message(result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        """The short failure text, without a traceback."""
        if isinstance(excinfo.value, CaseFailedError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the case is, for pytest's headers."""
        return self.path, None, f"diffcmp case {self.name}"


def _options(settings: Any) -> Options:
    from .run.options import Options

    return Options(engines=tuple(settings["engines"]), timing=False,
                   tolerance=settings["tolerance"])


def _session_results(session: pytest.Session) -> list[CaseResult]:
    """Every selected case file's results, run once per session in one worker process."""
    from .run.isolation import default_memory_limit, run_files

    if _RESULTS in session.stash:
        return session.stash[_RESULTS]
    settings = session.config.stash[_SETTINGS]
    files = list(dict.fromkeys(item.path.resolve() for item in session.items
                               if isinstance(item, CaseItem)))
    worker = session.config.stash.get(_WORKER, None)
    if worker is not None:
        del session.config.stash[_WORKER]  # run_files stops it
    results = run_files(files, _options(settings), timeout=settings["timeout"],
                        memory_limit=default_memory_limit(), worker=worker)
    session.stash[_RESULTS] = results
    return results


__all__ = ["CaseFile", "CaseItem", "pytest_addoption", "pytest_collect_file",
           "pytest_configure", "pytest_unconfigure"]
