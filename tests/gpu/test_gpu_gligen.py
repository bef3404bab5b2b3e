"""GPU smoke test of the gligen expert on tiny random pipelines (float16 on CUDA, no Ray)."""

from __future__ import annotations

import numpy as np
import pytest

from experts.base import ImageData
from experts.gligen import Gligen
from tests.experts.tiny_gligen import build_tiny_gligen

pytestmark = pytest.mark.gpu


def test_gligen_generates_and_inpaints_on_cuda(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the gligen GPU smoke test needs one")
    generation = build_tiny_gligen(tmp_path / "generation")
    inpainting = build_tiny_gligen(tmp_path / "inpainting", inpainting=True)
    settings = {
        "model": str(generation),
        "inpaint_model": str(inpainting),
        "device": "cuda",
        "num_inference_steps": 2,
    }
    expert = Gligen(settings)
    expert.setup()
    assert expert._pipe.unet.device.type == "cuda" and expert._pipe.unet.dtype == torch.float16

    args = {"prompt": "a park", "phrases": ["a dog"], "boxes": [[8, 8, 40, 40]], "width": 64, "height": 48}
    first = expert.run(Gligen.Input.model_validate(args | {"seed": 1}))
    again = expert.run(Gligen.Input.model_validate(args | {"seed": 1}))
    assert first.image.array.shape == (48, 64, 3) and first.image.array.dtype == np.uint8
    assert np.array_equal(first.image.array, again.image.array)
    assert first.boxes.items == [{"box": [8, 8, 40, 40], "label": "a dog"}]

    photo = np.random.default_rng(0).integers(0, 256, size=(40, 56, 3), dtype=np.uint8)
    inputs = Gligen.Input.model_validate(
        {
            "prompt": "a park",
            "phrases": ["a cat"],
            "boxes": [[4, 4, 30, 30]],
            "image": ImageData("image-1", photo),
        }
    )
    out = expert.run(inputs)
    assert out.image.array.shape == (40, 56, 3) and out.image.array.dtype == np.uint8
    assert np.array_equal(out.image.array[32:], photo[32:])  # outside the box: unchanged
    assert expert._inpaint_pipe.unet.device.type == "cuda"
