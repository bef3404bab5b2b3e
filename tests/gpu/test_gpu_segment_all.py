"""The segment_all expert on a GPU replica (num_gpus, device auto, float16) with the tiny confident SAM."""

from __future__ import annotations

import numpy as np
import pytest

from experts.segment_all import SegmentAll
from tests.experts.harness import call_tool, observation
from tests.experts.tiny_segment_all import build_tiny_segment_all
from tests.gpu.probes import BATCHING, OnCuda, on_gpu

pytestmark = [pytest.mark.gpu, pytest.mark.ray]


class SegmentAllOnCuda(OnCuda, SegmentAll):
    expect_dtype = "float16"


def test_segment_all_runs_batched_on_a_gpu_replica(orch, tmp_path) -> None:
    options = {
        "model": str(build_tiny_segment_all(tmp_path / "sam")),
        "points_per_side": 8,
        "points_per_batch": 16,
        "stability_score_thresh": 0.8,
    }
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) for _ in range(2)]
    calls = [{"image": "image-1"}, {"image": "image-2", "max_masks": 2}]
    with on_gpu(orch, SegmentAllOnCuda, options, batching=BATCHING) as name:
        result = call_tool(orch, name, calls, images)
        outputs = [observation(result, i)["output"] for i in range(2)]
        for out in outputs:
            assert out["points"] == 8 * 8 * 3 and out["areas"] == sorted(out["areas"], reverse=True)
            assert all(result.artifacts[m["handle"]].shape == [80, 48] for m in out["masks"])
        assert len(outputs[1]["masks"]) <= 2
        again = call_tool(orch, name, {"image": "image-2", "max_masks": 2}, session=result.session)
    output = observation(again)["output"]
    assert output["embedding_cached"] and output["areas"] == outputs[1]["areas"]
