"""The blur_region expert: blur or pixelate masks or boxes, or everything else."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from experts.base import ExpertError
from experts.blur_region import BlurRegion, pixelate
from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed
from tests.experts.pixels import call, image, mask, rect_mask


def noise(width: int = 64, height: int = 48) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_boxes_are_blurred_and_nothing_else_changes() -> None:
    pixels = noise()
    out = call(BlurRegion, image=image(pixels), boxes=[[0, 0, 20, 20], [40, 30, 60, 45]], strength=3)
    region = rect_mask((0, 0, 20, 20)) | rect_mask((40, 30, 60, 45))
    result = out.image.array
    assert np.array_equal(result[~region], pixels[~region])
    assert result[region].astype(float).std() < 0.5 * pixels[region].astype(float).std()
    assert out.blurred_fraction == round(region.mean(), 4)


def test_pixelate_makes_blocks_of_one_colour() -> None:
    blocks = pixelate(noise(), 8)
    assert (blocks[:8, :8] == blocks[0, 0]).all() and (blocks[40:48, 56:64] == blocks[47, 63]).all()
    assert not (blocks[:8, :8] == blocks[:8, 8:16]).all()
    odd = pixelate(noise(10, 7), 4)  # partial blocks at the edges
    assert odd.shape == (7, 10, 3)


def test_invert_blurs_around_a_mask() -> None:
    pixels = noise()
    subject = rect_mask((20, 10, 40, 40))
    result = call(BlurRegion, image=image(pixels), masks=[mask(subject)], invert=True).image.array
    assert np.array_equal(result[subject], pixels[subject])
    assert not np.array_equal(result[~subject], pixels[~subject])


def test_the_region_is_masks_or_boxes() -> None:
    for arguments in ({}, {"masks": "mask-1", "boxes": [[0, 0, 1, 1]]}):
        with pytest.raises(ValidationError, match="either 'masks' or 'boxes'"):
            BlurRegion.Input.model_validate({"image": "image-1", **arguments})
    with pytest.raises(ValidationError, match="'boxes' is empty"):
        BlurRegion.Input.model_validate({"image": "image-1", "boxes": []})
    with pytest.raises(ExpertError, match=r"boxes\[1\] \[50, 0, 90, 10\] extends past the 64x48 image"):
        call(BlurRegion, image=image(noise()), boxes=[[0, 0, 5, 5], [50, 0, 90, 10]])


@pytest.mark.ray
def test_pixelate_a_mask_through_serve(orch) -> None:
    picture = noise()
    picture[10:20, 10:30] = 255
    plan = [
        {"id": 0, "tool": "threshold", "arguments": {"image": "image-1", "level": 250}},
        {
            "id": 1,
            "tool": "blur_region",
            "arguments": {
                "image": "image-1",
                "masks": "<step-0>",
                "style": "pixelate",
                "strength": 4,
                "invert": True,
            },
        },
    ]
    with deployed(orch, "blur_region"):
        result = orch.run_plan(plan, images=[picture])
    assert result.ok, result.failure
    out = result.artifacts["image-2"].load()
    assert (out[10:20, 10:30] == 255).all() and (out[32:36, 40:44] == out[32, 40]).all()


@pytest.mark.ray
def test_in_the_react_loop(orch) -> None:
    turns = [
        'Thought: hide it\nAction: blur_region\nAction Input: {"image": "image-1", '
        '"boxes": [[0, 0, 16, 12]], "style": "pixelate", "strength": 8}',
        "Thought: done\nFinal Answer: image-2",
    ]
    with deployed(orch, "blur_region"):
        result = orch.run("pixelate the corner", images=[noise()], chat_model=ScriptedChatModel(turns))
    assert result.ok, result.failure
    step = next(s for s in result.steps if s.tool)
    assert step.error is None and json.loads(step.observation)["output"]["blurred_fraction"] == 0.0625
    out = result.artifacts["image-2"].load()
    assert (out[:8, :8] == out[0, 0]).all() and np.array_equal(out[12:], noise()[12:])
