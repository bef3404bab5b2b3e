"""The end-to-end MLLM route: a prompt rule when an 'mllm' expert is deployed, and the route in results."""

from __future__ import annotations

import numpy as np
import pytest

from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed
from tests.support.experts import MllmStub, Sleepy

pytestmark = pytest.mark.ray


def ask(orch, *turns: str):
    image = np.zeros((12, 20, 3), np.uint8)
    return orch.run("What is in this picture?", images=[image], chat_model=ScriptedChatModel(list(turns)))


def test_routes_are_reported(orch):
    assert "Choosing a route" not in orch.system_prompt()
    with deployed(orch, MllmStub, name="mllm"):
        assert "Choosing a route" in orch.system_prompt() and 'mode "answer"' in orch.system_prompt()
        direct = ask(
            orch,
            "Thought: a perception question\nAction: mllm\n"
            'Action Input: {"image": "image-1", "mode": "answer", "question": "What is in this picture?"}',
            "Thought: done\nFinal Answer: a 20x12 picture",
        )
        assert direct.ok and direct.route == "mllm"
        tools = ask(
            orch,
            "Thought: caption then crop\nAction: mllm\n"
            'Action Input: {"image": "image-1", "mode": "caption"}\n'
            'Action: crop\nAction Input: {"image": "image-1", "box": [0, 0, 4, 4]}',
            "Thought: done\nFinal Answer: ok",
        )
        assert tools.route == "tools"
    assert ask(orch, "Thought: easy\nFinal Answer: nothing").route == "none"


def test_direct_route_can_be_switched_off(orch):
    with deployed(orch, MllmStub, name="mllm"):
        orch.config.direct_mllm = False
        try:
            assert "Choosing a route" not in orch.system_prompt()
        finally:
            orch.config.direct_mllm = True


def test_the_route_follows_the_capability_not_the_name(orch):
    with deployed(orch, MllmStub, name="vlm"):
        assert "call vlm once" in orch.system_prompt()
        direct = ask(
            orch,
            "Thought: a perception question\nAction: vlm\n"
            'Action Input: {"image": "image-1", "mode": "answer", "question": "What is in this picture?"}',
            "Thought: done\nFinal Answer: a 20x12 picture",
        )
        assert direct.ok and direct.route == "mllm" and direct.steps[0].answers_task
    with deployed(orch, Sleepy, name="mllm"):  # named like the MLLM, but it answers no tasks
        assert "Choosing a route" not in orch.system_prompt()
        named = ask(
            orch,
            'Thought: wait\nAction: mllm\nAction Input: {"seconds": 0, "mode": "answer"}',
            "Thought: done\nFinal Answer: nothing",
        )
        assert named.route == "tools"
