"""The add-an-expert guide runs as written: every Python block of docs/adding-an-expert.md, in order."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def execute(doc: Path, orch) -> types.ModuleType:
    """Run every Python block of ``doc`` in order in one namespace holding ``orch``."""
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert len(blocks) >= 4
    # A module that is not importable elsewhere, as a user's script is: Ray ships its classes by value.
    module = types.ModuleType(doc.stem.replace("-", "_"))
    module.__dict__["orch"] = orch
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{doc.name} (python block {number})", "exec", dont_inherit=True)
        exec(code, module.__dict__)
    return module


@pytest.mark.ray
def test_adding_an_expert_guide_executes(orch):
    execute(DOCS / "adding-an-expert.md", orch)
    assert "brightness" not in orch.experts


@pytest.mark.ray
def test_sessions_and_plans_guide_executes(orch):
    execute(DOCS / "sessions-and-plans.md", orch)
    assert orch.config.approval_required == []
