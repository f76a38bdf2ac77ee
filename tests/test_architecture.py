"""The layout shows the design: one package per stage, imports pointing one way.

    sources -> index -> search -> answers -> app      (each may import only what is left of it)

Below the five stages sit the shared leaves (errors, limits, moment, atomic, urls, measure).
`config` and `pipeline` assemble the first four stages from settings, between answers
and the app (which serves what they assemble); the command line and the evaluation
helpers sit on top. Every import counts, including those inside
functions: a lazy import that points up the stages is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RAG = Path(__file__).resolve().parent.parent / "rag"

LEAVES = ("rag.errors", "rag.limits", "rag.moment", "rag.atomic", "rag.urls", "rag.measure")
STAGES = ("rag.sources", "rag.index", "rag.search", "rag.answers", "rag.app")
ASSEMBLY = ("rag.config", "rag.pipeline")
ENTRY_POINTS = ("rag.evaluation", "rag.cli")
# The app serves what the pipeline assembles, so it sits above the assembly.
LAYERS = [LEAVES, *((stage,) for stage in STAGES[:4]), ASSEMBLY, (STAGES[4],), ENTRY_POINTS]

MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 150
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(RAG.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(RAG.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The rag modules `path` imports anywhere in it (`from rag.x import y` counts
    rag.x.y when that is a module, else rag.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in known:
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module)
    return found - {module_name(path)}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, set(found)) for name, path in found.items()}


def layer_of(module: str) -> int:
    if module == "rag":
        return -1
    for rank, layer in enumerate(LAYERS):
        if any(module == home or module.startswith(home + ".") for home in layer):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to a stage, the leaves or the assembly")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_circle_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_every_module_has_a_layer_and_the_five_stages_are_packages():
    for module in modules():
        layer_of(module)
    for stage in STAGES:
        assert (RAG.parent / Path(*stage.split(".")) / "__init__.py").is_file(), stage


def test_no_import_circle_in_rag():
    assert find_cycle(import_graph()) is None


def test_imports_point_down_the_stages():
    upward = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_the_stage_check_catches_an_upward_import(tmp_path):
    assert layer_of("rag.index.build") < layer_of("rag.search.searcher") < layer_of("rag.app.chat")
    assert layer_of("rag.errors") < layer_of("rag.sources.load") < layer_of("rag.pipeline") < layer_of("rag.app.live") < layer_of("rag.cli")


def _sizes(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    yield "module", path.name, len(path.read_text(encoding="utf-8").splitlines()), MAX_MODULE_LINES
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            yield "class", node.name, node.end_lineno - node.lineno + 1, MAX_CLASS_LINES
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield "function", node.name, node.end_lineno - node.lineno + 1, MAX_FUNCTION_LINES


@pytest.mark.parametrize("name", sorted(modules()))
def test_each_module_holds_one_idea_by_size(name):
    path = modules()[name]
    too_big = [f"{kind} {what}: {lines} lines (at most {limit})"
               for kind, what, lines, limit in _sizes(path) if lines > limit]
    assert too_big == [], f"{path.relative_to(RAG.parent)}"
