"""GPU smoke test: the detect expert on CUDA (float16) with the tiny Grounding DINO."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from experts.base import ImageData
from experts.detect import Detect
from tests.experts.tiny_detect import build_tiny_detect

pytestmark = pytest.mark.gpu


def test_detect_runs_batched_on_cuda(tmp_path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU; torch.cuda.is_available() is False")
    expert = Detect({"model": str(build_tiny_detect(tmp_path / "tiny-detect")), "device": "cuda"})
    expert.setup()
    assert next(expert._model.parameters()).device.type == "cuda"
    rng = np.random.default_rng(0)
    batch = [
        Detect.Input(
            image=ImageData("image-1", rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)),
            phrases=["cat", "red car"],
            box_threshold=0.0,
        ),
        Detect.Input(
            image=ImageData("image-2", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)),
            phrases=["person"],
            box_threshold=0.0,
        ),
    ]
    first, second = expert.run_batch(batch)
    assert first.image_size == [90, 60] and second.image_size == [50, 40]
    for out, phrases, (width, height) in (
        (first, ["cat", "red car"], (90, 60)),
        (second, ["person"], (50, 40)),
    ):
        assert out.count == len(out.detections.items) > 0
        for item in out.detections.items:
            x0, y0, x1, y1 = item["box"]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            assert item["label"] in phrases and 0.0 <= item["score"] <= 1.0
