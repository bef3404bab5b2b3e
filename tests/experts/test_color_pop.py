"""The color_pop expert: colour inside the masks, grey outside (or the other way round)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experts.base import ExpertError
from experts.color_pop import ColorPop
from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed
from tests.experts.pixels import call, gradient_image, image, mask, rect_mask


def grey_of(pixels: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, as OpenCV computes it (rounded)."""
    weights = np.array([0.299, 0.587, 0.114])
    return np.rint(pixels.astype(float) @ weights).astype(int)


def test_masked_pixels_keep_their_colour_and_the_rest_turns_grey() -> None:
    pixels = gradient_image()
    first, second = rect_mask((0, 0, 10, 10)), rect_mask((30, 20, 40, 30))
    out = call(ColorPop, image=image(pixels), masks=[mask(first, "mask-1"), mask(second, "mask-2")])
    colour = first | second
    result = out.image.array
    assert np.array_equal(result[colour], pixels[colour])
    grey = result[~colour].astype(int)
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()
    assert np.abs(grey[:, 0] - grey_of(pixels[~colour])).max() <= 1
    assert out.color_fraction == round(colour.mean(), 4)


def test_invert_greys_the_mask_instead() -> None:
    pixels = gradient_image()
    region = rect_mask((5, 5, 20, 20))
    result = call(ColorPop, image=image(pixels), masks=[mask(region)], invert=True).image.array
    assert np.array_equal(result[~region], pixels[~region])
    assert (result[region][:, 0] == result[region][:, 2]).all()


def test_a_mask_of_another_size_is_an_input_error() -> None:
    with pytest.raises(ExpertError, match="mask mask-1 is 8x8 but image image-1 is 64x48"):
        call(ColorPop, image=image(gradient_image()), masks=[mask(np.ones((8, 8), bool))])


@pytest.mark.ray
def test_every_mask_of_a_step_through_serve(orch) -> None:
    picture = gradient_image() // 2
    picture[:, :16] = [250, 10, 10]
    plan = [
        {"id": 0, "tool": "threshold", "arguments": {"image": "image-1", "level": 80}},
        {"id": 1, "tool": "color_pop", "arguments": {"image": "image-1", "masks": ["<step-0>"]}},
    ]
    with deployed(orch, "color_pop"):
        result = orch.run_plan(plan, images=[picture])
    assert result.ok, result.failure
    out = result.artifacts["image-2"].load()
    assert (out[:, :16] == [250, 10, 10]).all()  # bright red stays: mean 90 > 80
    assert (out[:, 20:, 0] == out[:, 20:, 1]).all()


@pytest.mark.ray
def test_in_the_react_loop(orch) -> None:
    picture = gradient_image() // 2
    picture[:, :16] = [250, 10, 10]
    turns = [
        'Thought: find it\nAction: threshold\nAction Input: {"image": "image-1", "level": 80}',
        'Thought: pop\nAction: color_pop\nAction Input: {"image": "image-1", "masks": ["mask-1"]}',
        "Thought: done\nFinal Answer: image-2",
    ]
    with deployed(orch, "color_pop"):
        result = orch.run("keep the red", images=[picture], chat_model=ScriptedChatModel(turns))
    assert result.ok, result.failure
    step = [s for s in result.steps if s.tool][1]
    assert step.error is None and json.loads(step.observation)["output"]["color_fraction"] == 0.25
