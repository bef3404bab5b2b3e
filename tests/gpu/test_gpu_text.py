"""The text expert on a GPU replica (num_gpus, device auto, float16) with the tiny word-level chat LM."""

from __future__ import annotations

import pytest

from experts.text import Text
from tests.experts.harness import call_tool, observation
from tests.experts.tiny_text import build_tiny_text_lm
from tests.gpu.probes import BATCHING, OnCuda, on_gpu

pytestmark = [pytest.mark.gpu, pytest.mark.ray]


class TextOnCuda(OnCuda, Text):
    expect_dtype = "float16"


def test_text_runs_batched_on_a_gpu_replica(orch, tmp_path) -> None:
    options = {"model": str(build_tiny_text_lm(tmp_path / "lm")), "max_new_tokens": 6}
    calls = [
        {"instruction": "Summarise", "texts": ["a dog on the beach with a red ball"]},
        {"instruction": "Translate into French: the shop is open"},
        {"exact": "count_words", "texts": ["exit north", "open daily now"]},
    ]
    with on_gpu(orch, TextOnCuda, options, batching=BATCHING) as name:
        result = call_tool(orch, name, calls)
    outputs = [observation(result, i)["output"] for i in range(3)]
    for out in outputs[:2]:  # random float16 weights: any words, but the model's own answer
        assert isinstance(out["text"], str) and out["answer"]["text"] == out["text"]
    assert outputs[2]["text"] == "5" and outputs[2]["counts"] == [2, 3]
