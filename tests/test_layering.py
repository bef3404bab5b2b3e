"""The house's rules, checked on the source: no import cycles, and arrows only point one way.

Every import counts — module level, inside functions, and under ``TYPE_CHECKING`` — because a
type-only cycle is still a cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestrator", "experts", "llm", "prompts", "redaction")
# Below the SDK face: these never reach up into it (or into the CLI / the service on top of it).
ENGINE_WINGS = ("orchestrator.agent", "orchestrator.serving", "orchestrator.storage")
UPPER = ("orchestrator.sdk", "orchestrator.session", "orchestrator.cli", "orchestrator.service")
SOURCE_LIMIT_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            # the longest project module the name refers to (``a.b.c`` may be a function in ``a.b``)
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    # a package's __init__ re-exporting its children is not an edge back up from the children
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_check_can_fail() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_experts_llm_and_prompts_never_import_the_orchestrator() -> None:
    wrong = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if _within(name, ("experts", "llm", "prompts"))
        for target in targets
        if _within(target, ("orchestrator",))
    ]
    assert wrong == []


def test_redaction_is_a_leaf() -> None:
    """Everything may use redaction (llm/ and orchestrator/ both do); it uses nothing of the project."""
    graph = _graph()
    assert "redaction" in graph
    assert [
        f"{name} -> {t}" for name, targets in graph.items() if _within(name, ("redaction",)) for t in targets
    ] == []


def test_engine_wings_never_reach_up_into_the_face() -> None:
    wrong = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if _within(name, ENGINE_WINGS)
        for target in targets
        if _within(target, UPPER)
    ]
    assert wrong == []


def test_the_agent_speaks_to_experts_through_the_protocol_only() -> None:
    """The loop never imports the Ray side of the experts (the Serve builder, the replica)."""
    wrong = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if _within(name, ("orchestrator.agent", "orchestrator.result", "orchestrator.events"))
        for target in targets
        if target == "experts.deployment"
    ]
    assert wrong == []


def test_no_source_file_is_over_the_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in _modules().values()
        if (n := len(path.read_text().splitlines())) > SOURCE_LIMIT_LINES
    }
    assert long == {}
