"""The clip expert on a GPU replica (num_gpus, device auto, float16) with the tiny CLIP."""

from __future__ import annotations

import numpy as np
import pytest

from tests.experts.harness import call_tool, observation
from tests.experts.tiny_clip import build_tiny_clip
from tests.gpu.probes import BATCHING, ClipOnCuda, on_gpu

pytestmark = [pytest.mark.gpu, pytest.mark.ray]


def test_clip_runs_batched_on_a_gpu_replica(orch, tmp_path) -> None:
    options = {"model": str(build_tiny_clip(tmp_path / "tiny-clip"))}
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    calls = [
        {"image": "image-1", "labels": ["cat", "dog", "car"]},
        {"image": "image-2", "labels": ["cat", "tree"], "boxes": [[0, 0, 32, 24], [8, 8, 64, 48]]},
        {"mode": "rank", "images": ["image-1", "image-2"], "query": "a dog"},
    ]
    with on_gpu(orch, ClipOnCuda, options, batching=BATCHING) as name:
        result = call_tool(orch, name, calls, images)
    whole, regions, ranked = (observation(result, i)["output"] for i in range(3))
    assert whole["label"] in {"cat", "dog", "car"}
    assert abs(sum(whole["predictions"][0]["probabilities"].values()) - 1) < 1e-2
    boxes = result.artifacts[regions["regions"]["handle"]].load()
    assert [item["box"] for item in boxes] == [[0, 0, 32, 24], [8, 8, 64, 48]]
    assert [r["rank"] for r in ranked["ranking"]] == [1, 2]
    assert sorted(r["image"] for r in ranked["ranking"]) == ["image-1", "image-2"]
