"""The package's shape: no import cycle between modules (imports inside functions counted), arrows
that point one way between layers, small modules, and a public API that is exactly the user's."""

from __future__ import annotations

import ast
from pathlib import Path

import diffcmp

PACKAGE = Path(diffcmp.__file__).parent

#: Layers from the bottom up: a module may import its own layer and those below, never above.
LAYERS = [
    {"errors", "status", "registry", "_version", "precision"},
    {"ops"},
    {"lang"},
    {"cases"},
    {"symbolic", "matcalc"},
    {"engines", "grading"},
    {"run"},
    {"results"},
    {"report"},
    {"result", "api", "checking", "config", "explain", "cli", "pytest_plugin", "__init__",
     "__main__", "terminal", "gradbench"},
]

MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """Every diffcmp module ``name`` imports, anywhere in the file (functions included)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # ``from pkg import module`` imports the module; ``from module import name`` the module
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module
                       for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def test_the_import_graph_is_read_from_the_source() -> None:
    assert "diffcmp.symbolic.problem" in GRAPH["diffcmp.engines.base"]
    assert "diffcmp.run.evaluate" in GRAPH["diffcmp.run.isolation"]
    assert "diffcmp.ops.torch" in GRAPH["diffcmp.explain"]  # imported inside a function


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_point_down_the_layers() -> None:
    upward = [f"{a} -> {b}" for a, targets in GRAPH.items() for b in sorted(targets)
              if _layer(b) > _layer(a)]
    assert upward == []


def test_every_module_has_a_layer_and_stays_small() -> None:
    for name, path in MODULES.items():
        _layer(name)
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_the_package_exports_the_public_api_only() -> None:
    public = {"Case", "CaseError", "DiffcmpError", "ENGINE_NAMES", "ExpressionError", "Options",
              "Result", "Sample", "UndefinedError", "UnsupportedError", "__version__",
              "Engine", "Prepared", "OpTableEngine", "check_op_table",
              "assert_gradients_agree", "check", "compare",
              "load_case", "load_cases", "matrix", "run_cases", "run_suite", "sweep", "vector",
              "write_report"}
    assert set(diffcmp.__all__) == public
    assert all(hasattr(diffcmp, name) for name in public)
