"""GPU smoke test: the clip expert on CUDA (float16) with the tiny CLIP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from experts.base import ImageData
from experts.clip import Clip
from tests.experts.tiny_clip import build_tiny_clip

pytestmark = pytest.mark.gpu


def test_clip_runs_batched_on_cuda(tmp_path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU; torch.cuda.is_available() is False")
    expert = Clip({"model": str(build_tiny_clip(tmp_path / "tiny-clip")), "device": "cuda"})
    expert.setup()
    assert next(expert._model.parameters()).device.type == "cuda"
    rng = np.random.default_rng(0)
    one, two = (ImageData(f"image-{i}", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for i in (1, 2))
    batch = [
        Clip.Input(image=one, labels=["cat", "dog", "car"]),
        Clip.Input(image=two, labels=["cat", "tree"], boxes=[[0, 0, 32, 24], [8, 8, 64, 48]]),
        Clip.Input(mode="rank", images=[one, two], query="a dog"),
    ]
    whole, regions, ranked = expert.run_batch(batch)
    assert (
        whole.label in {"cat", "dog", "car"}
        and abs(sum(whole.predictions[0]["probabilities"].values()) - 1) < 1e-2
    )
    assert [item["box"] for item in regions.regions.items] == [[0, 0, 32, 24], [8, 8, 64, 48]]
    assert [r["rank"] for r in ranked.ranking] == [1, 2]
    assert sorted(r["image"] for r in ranked.ranking) == ["image-1", "image-2"]
