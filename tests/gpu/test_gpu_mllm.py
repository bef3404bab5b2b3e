"""The mllm expert on a GPU replica (num_gpus, device auto, float16): tiny Qwen2-VL and LLaVA, batched."""

from __future__ import annotations

import numpy as np
import pytest

from tests.experts.harness import call_tool, observation
from tests.experts.tiny_mllm import build_tiny_mllm
from tests.gpu.probes import BATCHING, MllmOnCuda, on_gpu

pytestmark = [pytest.mark.gpu, pytest.mark.ray]


@pytest.mark.parametrize("family", ["qwen2_vl", "llava"])
def test_mllm_runs_batched_on_a_gpu_replica(orch, tmp_path, family: str) -> None:
    directory = build_tiny_mllm(tmp_path / family, family)
    options = {"family": family, "model": str(directory), "max_new_tokens": 6}
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size, dtype=np.uint8) for size in ((48, 64, 3), (120, 90, 3))]
    calls = [
        {"image": "image-1", "mode": "caption"},
        {"image": "image-2", "mode": "vqa", "question": "What is in the picture?"},
        {"image": "image-1", "mode": "region", "box": [8, 8, 40, 32]},
        {"image": "image-2", "mode": "answer", "question": "Describe the scene.", "max_new_tokens": 2},
    ]
    with on_gpu(orch, MllmOnCuda, options, name=f"mllm_{family}", batching=BATCHING) as name:
        result = call_tool(orch, name, calls, images)
    outputs = [observation(result, i)["output"] for i in range(4)]
    assert [out["mode"] for out in outputs] == ["caption", "vqa", "region", "answer"]
    for out in outputs:
        assert isinstance(out["text"], str) and out["answer"]["text"] == out["text"]
        assert result.artifacts[out["answer"]["handle"]].kind == "text"
    assert outputs[2]["region"] == [5, 5, 43, 35]
