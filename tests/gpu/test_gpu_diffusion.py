"""GPU smoke test of the controlnet and inpaint experts: tiny random models on CUDA (float16), no Ray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experts.base import ImageData, MaskData
from experts.controlnet import ControlNet
from experts.inpaint import Inpaint
from tests.experts.tiny_diffusion import (
    build_tiny_controlnet,
    build_tiny_depth_estimator,
    build_tiny_inpaint,
    build_tiny_sd,
    build_tiny_segmenter,
)

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", autouse=True)
def needs_cuda() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")


def photo(width: int, height: int) -> np.ndarray:
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[8:30, 10:40] = 220
    return array


def test_controlnet_on_cuda(tmp_path: Path) -> None:
    controlnet = str(build_tiny_controlnet(tmp_path / "controlnet"))
    expert = ControlNet(
        {
            "model": str(build_tiny_sd(tmp_path / "sd")),
            "controlnets": {"canny": controlnet, "depth": controlnet, "seg": controlnet},
            "depth_model": str(build_tiny_depth_estimator(tmp_path / "dpt")),
            "seg_model": str(build_tiny_segmenter(tmp_path / "upernet")),
            "num_inference_steps": 2,
            "device": "cuda",
        }
    )
    expert.setup()
    assert expert._base.device.type == "cuda"
    source = ImageData("image-1", photo(60, 44))
    for kind in ("canny", "depth", "seg"):
        inputs = {
            "prompt": "a house",
            "condition": kind,
            "image": source,
            "compute_condition": True,
            "seed": 1,
        }
        out = expert.run(ControlNet.Input.model_validate(inputs))
        assert out.image.array.shape == (48, 64, 3) and out.image.array.dtype == np.uint8
        assert out.condition is not None and out.condition.array.shape == (44, 60, 3)


def test_inpaint_on_cuda(tmp_path: Path) -> None:
    expert = Inpaint({"model": str(build_tiny_inpaint(tmp_path / "inpaint")), "num_inference_steps": 2})
    expert.setup()
    assert expert._pipe.device.type == "cuda"
    source = photo(61, 45)
    mask = source.mean(axis=2) > 100
    inputs = {
        "image": ImageData("image-1", source),
        "mask": MaskData("mask-1", mask),
        "prompt": "grass",
        "dilate": 0,
        "seed": 2,
    }
    out = expert.run(Inpaint.Input.model_validate(inputs))
    assert out.image.array.shape == (45, 61, 3) and out.image.array.dtype == np.uint8
    np.testing.assert_array_equal(out.image.array[~mask], source[~mask])
