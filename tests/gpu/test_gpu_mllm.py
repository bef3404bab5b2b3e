"""GPU smoke test: the mllm expert on CUDA (float16) with the tiny Qwen2-VL and LLaVA, batched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from experts.base import ImageData, NewText
from experts.mllm import Mllm
from tests.experts.tiny_mllm import build_tiny_mllm

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("family", ["qwen2_vl", "llava"])
def test_mllm_runs_batched_on_cuda(tmp_path, family: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU; torch.cuda.is_available() is False")
    directory = build_tiny_mllm(tmp_path / family, family)
    expert = Mllm({"family": family, "model": str(directory), "device": "cuda", "max_new_tokens": 6})
    expert.setup()
    parameter = next(expert._model.parameters())
    assert parameter.device.type == "cuda" and parameter.dtype == torch.float16
    rng = np.random.default_rng(0)
    one, two = (
        ImageData(f"image-{i}", rng.integers(0, 256, size, dtype=np.uint8))
        for i, size in ((1, (48, 64, 3)), (2, (120, 90, 3)))
    )
    batch = [
        Mllm.Input(image=one, mode="caption"),
        Mllm.Input(image=two, mode="vqa", question="What is in the picture?"),
        Mllm.Input(image=one, mode="region", box=[8, 8, 40, 32]),
        Mllm.Input(image=two, mode="answer", question="Describe the scene.", max_new_tokens=2),
    ]
    results = expert.run_batch(batch)
    assert [out.mode for out in results] == ["caption", "vqa", "region", "answer"]
    for out in results:
        assert isinstance(out.text, str) and isinstance(out.answer, NewText) and out.answer.text == out.text
    assert results[2].region == [5, 5, 43, 35]
