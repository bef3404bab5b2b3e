"""The guides run as written: every Python block of each page in docs/, in order.

A block titled with a file name (```python title="acme_reactor/rules.py"```) is a file of the
reader's own project: it is written into a directory on ``sys.path``; a ``pyproject.toml`` block is
installed as that project's metadata (its entry points), as ``pip install`` would leave it.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import tomllib

from tests.support.entry_points import write_plugin_metadata

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r'```(python|toml)(?: title="([^"]+)")?\n(.*?)```', flags=re.S)


def execute(
    doc: Path, orch: Any = None, *, project: Path | None = None, min_blocks: int = 4
) -> types.ModuleType:
    """Run every untitled Python block of ``doc`` in order in one namespace holding ``orch``.

    Titled blocks are written under ``project`` (which must be on ``sys.path``) when they come.
    """
    blocks = BLOCK.findall(doc.read_text())
    assert sum(1 for lang, title, _ in blocks if lang == "python" and not title) >= min_blocks
    # A module that is not importable elsewhere, as a user's script is: Ray ships its classes by value.
    module = types.ModuleType(doc.stem.replace("-", "_"))
    module.__dict__["orch"] = orch
    for number, (lang, title, text) in enumerate(blocks, start=1):
        if title:
            assert project is not None, f"{doc.name}: block {number} is a project file ({title})"
            _install(project, title, text)
        elif lang == "python":
            code = compile(text, f"{doc.name} (block {number})", "exec", dont_inherit=True)
            exec(code, module.__dict__)
    return module


def _install(project: Path, title: str, text: str) -> None:
    if title == "pyproject.toml":
        metadata = tomllib.loads(text)["project"]
        write_plugin_metadata(project, metadata["name"], metadata["entry-points"])
    else:
        path = project / title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The reader's project: a directory on sys.path; its modules are forgotten afterwards."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [name for name in sys.modules if name.split(".")[0] == "acme_reactor"]:
        del sys.modules[name]


@pytest.mark.ray
def test_adding_an_expert_guide_executes(orch):
    execute(DOCS / "adding-an-expert.md", orch)
    assert "brightness" not in orch.experts


@pytest.mark.ray
def test_sessions_and_plans_guide_executes(orch):
    execute(DOCS / "sessions-and-plans.md", orch)
    assert orch.config.approval_required == []


@pytest.mark.ray
@pytest.mark.parametrize(
    "page", ["extending-llm-backends.md", "extending-checkpointers.md", "extending-artifact-stores.md"]
)
def test_extension_guides_execute(ray_session, project, page):
    execute(DOCS / page, project=project, min_blocks=2)


ROOT = DOCS.parent


def test_architecture_map_names_real_modules_and_paths() -> None:
    """ARCHITECTURE.md's code runs, and every path it names in backticks exists."""
    page = ROOT / "ARCHITECTURE.md"
    execute(page, min_blocks=1)
    named = re.findall(
        r"`((?:orchestrator|experts|llm|prompts|docs|extensions|loading)/[\w./-]*)`", page.read_text()
    )
    assert named, "the map names no paths"
    missing = [path for path in named if not (ROOT / path.split(" ")[0]).exists()]
    assert missing == []
