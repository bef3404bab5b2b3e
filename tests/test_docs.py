"""The add-an-expert guide runs as written: every Python block of docs/adding-an-expert.md, in order."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-an-expert.md"


@pytest.mark.ray
def test_adding_an_expert_guide_executes(orch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 4
    # A module that is not importable elsewhere, as a user's script is: Ray ships its classes by value.
    module = types.ModuleType("adding_an_expert_guide")
    module.__dict__["orch"] = orch
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{DOC.name} (python block {number})", "exec", dont_inherit=True)
        exec(code, module.__dict__)
    assert "brightness" not in orch.experts
