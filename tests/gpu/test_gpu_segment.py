"""GPU smoke test of the segment expert: the tiny SAM on CUDA (float16 by default), no Ray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


def test_segment_runs_on_cuda(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    from experts.base import ImageData
    from experts.segment import Segment
    from tests.experts.tiny_segment import build_tiny_segment

    expert = Segment({"model": str(build_tiny_segment(tmp_path / "sam")), "device": "cuda"})
    expert.setup()
    assert expert.backend.model.dtype == torch.float16
    rng = np.random.default_rng(0)
    first, second = (rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) for _ in range(2))

    def call(array: np.ndarray, **prompts) -> Segment.Input:
        return Segment.Input.model_validate({"image": ImageData("image-1", array), **prompts})

    results = expert.run_batch(
        [
            call(first, boxes=[[1, 2, 30, 40], [40, 5, 80, 45]]),
            call(second, points=[[3, 4], [60, 20]], point_labels=[1, 0], multimask=True),
            call(first, boxes=[[0, 0, 10, 10]], points=[[5, 5]]),
        ]
    )
    assert [len(r.masks) for r in results] == [2, 3, 1]
    for result in results:
        assert all(m.array.shape == (48, 80) and m.array.dtype == bool for m in result.masks)
        assert all(np.isfinite(result.scores))
    again = expert.run(call(second, boxes=[[0, 0, 80, 48]]))
    assert again.embedding_cached and again.masks[0].array.shape == (48, 80)
    assert expert.cache.nbytes == 2 * 16 * 8 * 8 * 2  # two 1x16x8x8 float16 embeddings
