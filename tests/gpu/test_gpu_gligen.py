"""The gligen expert on a GPU replica (num_gpus, device auto, float16) with tiny random pipelines."""

from __future__ import annotations

import numpy as np
import pytest

from tests.experts.harness import call_tool, observation
from tests.experts.tiny_gligen import build_tiny_gligen
from tests.gpu.probes import GligenOnCuda, on_gpu

pytestmark = [pytest.mark.gpu, pytest.mark.ray]


def test_gligen_generates_and_inpaints_on_a_gpu_replica(orch, tmp_path) -> None:
    options = {
        "model": str(build_tiny_gligen(tmp_path / "generation")),
        "inpaint_model": str(build_tiny_gligen(tmp_path / "inpainting", inpainting=True)),
    }
    generate = {
        "prompt": "a park",
        "phrases": ["a dog"],
        "boxes": [[8, 8, 40, 40]],
        "width": 64,
        "height": 48,
    }
    generate |= {"seed": 1, "steps": 2}
    inpaint = {
        "prompt": "a park",
        "phrases": ["a cat"],
        "boxes": [[4, 4, 30, 30]],
        "image": "image-1",
        "steps": 2,
    }
    photo = np.random.default_rng(0).integers(0, 256, size=(40, 56, 3), dtype=np.uint8)
    with on_gpu(orch, GligenOnCuda, options) as name:
        result = call_tool(orch, name, [generate, generate, inpaint], [photo])
    first, again, painted = (observation(result, i)["output"] for i in range(3))
    image = result.artifacts[first["image"]["handle"]]
    assert image.shape == [64, 48] and image.id == result.artifacts[again["image"]["handle"]].id  # same seed
    assert result.artifacts[first["boxes"]["handle"]].load() == [{"box": [8, 8, 40, 40], "label": "a dog"}]
    out = result.artifacts[painted["image"]["handle"]].load()
    assert out.shape == (40, 56, 3) and np.array_equal(out[32:], photo[32:])  # outside the box: unchanged
