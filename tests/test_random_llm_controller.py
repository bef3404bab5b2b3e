"""A random-weight tiny transformers LM as the controller ends in a clear failure, not an exception."""

from __future__ import annotations

import pytest

from llm import ControllerConfig
from llm.transformers_local import TransformersChatModel
from tests.llm.tiny_causal_lm import build_tiny_causal_lm

pytestmark = pytest.mark.ray


def test_random_weight_controller_fails_cleanly_within_max_steps(orch, tmp_path):
    model_dir = build_tiny_causal_lm(tmp_path / "tiny-lm")
    controller = TransformersChatModel(
        ControllerConfig(backend="transformers", model=str(model_dir), max_new_tokens=24)
    )
    result = orch.run("Read the sign.", chat_model=controller, max_steps=3)
    assert result.status == "failed"
    assert result.failure  # says why: unparseable replies, or the step budget
    assert result.answer is None
    assert len({s.turn for s in result.steps}) <= 3
    assert "transformers" in result.controller and not result.replay
