"""The detect expert on a GPU replica (num_gpus, device auto, float16) with the tiny Grounding DINO."""

from __future__ import annotations

import numpy as np
import pytest

from tests.experts.harness import call_tool, observation
from tests.experts.tiny_detect import build_tiny_detect
from tests.gpu.probes import BATCHING, DetectOnCuda, on_gpu

pytestmark = [pytest.mark.gpu, pytest.mark.ray]


def test_detect_runs_batched_on_a_gpu_replica(orch, tmp_path) -> None:
    options = {"model": str(build_tiny_detect(tmp_path / "tiny-detect")), "max_detections": 10}
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (60, 90, 3), dtype=np.uint8),
        rng.integers(0, 256, (40, 50, 3), dtype=np.uint8),
    ]
    calls = [
        {"image": "image-1", "phrases": ["cat", "red car"], "box_threshold": 0.0},
        {"image": "image-2", "phrases": ["person"], "box_threshold": 0.0},
    ]
    with on_gpu(orch, DetectOnCuda, options, batching=BATCHING) as name:
        result = call_tool(orch, name, calls, images)
    first, second = (observation(result, i)["output"] for i in range(2))
    assert first["image_size"] == [90, 60] and second["image_size"] == [50, 40]
    for out, phrases, (width, height) in (
        (first, ["cat", "red car"], (90, 60)),
        (second, ["person"], (50, 40)),
    ):
        items = result.artifacts[out["detections"]["handle"]].load()
        assert out["count"] == len(items) > 0
        for item in items:
            x0, y0, x1, y1 = item["box"]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            assert item["label"] in phrases and 0.0 <= item["score"] <= 1.0
