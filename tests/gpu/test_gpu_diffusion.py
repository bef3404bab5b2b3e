"""The controlnet and inpaint experts on GPU replicas (num_gpus, device auto, float16), tiny pipelines."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from tests.experts.harness import call_tool, observation
from tests.experts.tiny_diffusion import (
    build_tiny_controlnet,
    build_tiny_inpaint,
    build_tiny_sd,
    build_tiny_segmenter,
)
from tests.gpu.probes import ControlNetOnCuda, InpaintOnCuda, on_gpu

pytestmark = [pytest.mark.gpu, pytest.mark.ray]


def photo(width: int, height: int) -> np.ndarray:
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[8:30, 10:40] = 220
    return array


def test_controlnet_on_a_gpu_replica(orch, tmp_path) -> None:
    controlnet = str(build_tiny_controlnet(tmp_path / "controlnet"))
    options = {
        "model": str(build_tiny_sd(tmp_path / "sd")),
        "controlnets": {"canny": controlnet, "depth": controlnet, "seg": controlnet},
        "seg_model": str(build_tiny_segmenter(tmp_path / "upernet")),
    }
    calls = [
        {"prompt": "a house", "condition": kind, "image": "image-1", "compute_condition": True}
        | {"seed": 1, "steps": 2}
        for kind in ("canny", "seg")
    ]
    calls.append({"prompt": "a house", "condition": "depth", "condition_image": "image-1", "steps": 2})
    with on_gpu(orch, ControlNetOnCuda, options) as name:
        result = call_tool(orch, name, calls, [photo(60, 44)])
    for i in range(3):
        out = observation(result, i)["output"]
        assert result.artifacts[out["image"]["handle"]].shape == [64, 48]  # sides rounded up to 8
        if i < 2:
            assert result.artifacts[out["condition"]["handle"]].shape == [60, 44]


def test_inpaint_on_a_gpu_replica(orch, tmp_path) -> None:
    source = photo(61, 45)
    session = f"gpu-inpaint-{uuid.uuid4().hex[:8]}"
    masked = call_tool(orch, "threshold", {"image": "image-1", "level": 100}, [source], session=session)
    mask = masked.artifacts["mask-1"].load().astype(bool)
    options = {"model": str(build_tiny_inpaint(tmp_path / "inpaint"))}
    arguments = {"image": "image-1", "mask": "mask-1", "prompt": "grass", "dilate": 0, "seed": 2, "steps": 2}
    with on_gpu(orch, InpaintOnCuda, options) as name:
        result = call_tool(orch, name, arguments, session=session)
    painted = result.artifacts[observation(result)["output"]["image"]["handle"]]
    assert painted.shape == [61, 45]
    np.testing.assert_array_equal(painted.load()[~mask], source[~mask])
