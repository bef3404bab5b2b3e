"""The segment expert on a GPU replica (num_gpus, device auto, float16) with the tiny SAM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.experts.harness import call_tool, observation
from tests.experts.tiny_segment import build_tiny_segment
from tests.gpu.probes import BATCHING, SegmentOnCuda, on_gpu

pytestmark = [pytest.mark.gpu, pytest.mark.ray]


def test_segment_runs_batched_on_a_gpu_replica(orch, tmp_path) -> None:
    options = {"model": str(build_tiny_segment(tmp_path / "sam"))}
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) for _ in range(2)]
    calls = [
        {"image": "image-1", "boxes": [[1, 2, 30, 40], [40, 5, 80, 45]]},
        {"image": "image-2", "points": [[3, 4], [60, 20]], "point_labels": [1, 0], "multimask": True},
        {"image": "image-1", "boxes": [[0, 0, 10, 10]], "points": [[5, 5]]},
    ]
    with on_gpu(orch, SegmentOnCuda, options, batching=BATCHING) as name:
        result = call_tool(orch, name, calls, images)
        outputs = [observation(result, i)["output"] for i in range(3)]
        assert [len(out["masks"]) for out in outputs] == [2, 3, 1]
        for out in outputs:
            assert all(result.artifacts[m["handle"]].shape == [80, 48] for m in out["masks"])
            assert all(math.isfinite(score) for score in out["scores"])
        again = call_tool(orch, name, {"image": "image-2", "boxes": [[0, 0, 80, 48]]}, session=result.session)
    output = observation(again)["output"]
    assert output["embedding_cached"] and again.artifacts[output["masks"][0]["handle"]].shape == [80, 48]
