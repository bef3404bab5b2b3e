"""The replace_background expert: a colour, a blur or another image behind the masked foreground."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from experts.replace_background import ReplaceBackground, cover
from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed
from tests.experts.pixels import call, gradient_image, image, mask, rect_mask

PERSON = (20, 10, 40, 40)


def test_a_colour_replaces_everything_outside_the_mask() -> None:
    pixels = gradient_image()
    out = call(ReplaceBackground, image=image(pixels), masks=[mask(rect_mask(PERSON))], color="lime")
    result, keep = out.image.array, rect_mask(PERSON)
    assert np.array_equal(result[keep], pixels[keep])
    assert (result[~keep] == [0, 255, 0]).all()
    assert out.foreground_fraction == round(keep.mean(), 4)


def test_mask_is_background_replaces_the_masked_part() -> None:
    pixels = gradient_image()
    sky = rect_mask((0, 0, 64, 12))
    out = call(
        ReplaceBackground, image=image(pixels), masks=[mask(sky)], color="#0000ff", mask_is="background"
    )
    assert (out.image.array[sky] == [0, 0, 255]).all() and np.array_equal(out.image.array[~sky], pixels[~sky])


def test_blur_keeps_the_foreground_sharp_and_blurs_the_rest() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    keep = rect_mask(PERSON)
    out = call(ReplaceBackground, image=image(pixels), masks=[mask(keep)], blur=4.0).image.array
    assert np.array_equal(out[keep], pixels[keep])
    assert out[~keep].astype(float).std() < 0.5 * pixels[~keep].astype(float).std()  # noise smoothed away


def test_another_image_is_scaled_to_cover_and_centre_cropped() -> None:
    backdrop = np.zeros((10, 40, 3), np.uint8)
    backdrop[:, :20] = [255, 0, 0]  # left half red, right half black
    covered = cover(backdrop, 64, 48)  # scaled by 4.8 to 192x48, the middle 64 columns kept
    assert covered.shape == (48, 64, 3)
    assert (covered[:, :28] == [255, 0, 0]).all() and not covered[:, 36:].any()
    out = call(
        ReplaceBackground,
        image=image(gradient_image()),
        masks=[mask(rect_mask(PERSON))],
        background=image(backdrop, "image-2"),
    )
    assert (out.image.array[0, 0] == [255, 0, 0]).all() and not out.image.array[47, 63].any()


def test_feather_softens_only_the_edge() -> None:
    pixels = np.full((48, 64, 3), 200, np.uint8)
    out = call(
        ReplaceBackground, image=image(pixels), masks=[mask(rect_mask(PERSON))], color="black", feather=2
    ).image.array
    row = out[25, :, 0].astype(int)
    assert row[30] == 200 and row[0] == 0 and 0 < row[20] < 200 and 0 < row[19] < 200


def test_exactly_one_background_is_required() -> None:
    with pytest.raises(ValidationError, match=r"give exactly one new background.*none was given"):
        ReplaceBackground.Input.model_validate({"image": "image-1", "masks": "mask-1"})
    with pytest.raises(ValidationError, match="color and blur were given"):
        ReplaceBackground.Input.model_validate(
            {"image": "image-1", "masks": "mask-1", "color": "red", "blur": 3}
        )


@pytest.mark.ray
def test_through_serve_with_a_second_image(orch) -> None:
    plan = [
        {"id": 0, "tool": "threshold", "arguments": {"image": "image-1", "level": 100}},
        {"id": 1, "tool": "invert", "arguments": {"image": "image-1"}},
        {
            "id": 2,
            "tool": "replace_background",
            "arguments": {"image": "image-1", "masks": "<step-0>", "background": "<step-1>"},
        },
    ]
    picture = np.zeros((30, 40, 3), np.uint8)
    picture[5:15, 5:25] = 180
    with deployed(orch, "replace_background"):
        result = orch.run_plan(plan, images=[picture])
    assert result.ok, result.failure
    out = result.artifacts["image-3"].load()
    assert (out[5:15, 5:25] == 180).all() and (out[20:, :] == 255).all()  # kept; the inverted black
    assert result.artifacts["image-3"].parents == ["image-1", "mask-1", "image-2"]


@pytest.mark.ray
def test_in_the_react_loop(orch) -> None:
    picture = np.zeros((30, 40, 3), np.uint8)
    picture[5:15, 5:25] = 180
    turns = [
        'Thought: find it\nAction: threshold\nAction Input: {"image": "image-1", "level": 100}',
        'Thought: swap\nAction: replace_background\nAction Input: {"image": "image-1", "masks": "mask-1", '
        '"color": "white"}',
        "Thought: done\nFinal Answer: image-2",
    ]
    with deployed(orch, "replace_background"):
        result = orch.run("white background", images=[picture], chat_model=ScriptedChatModel(turns))
    assert result.ok, result.failure
    assert [s.error for s in result.steps if s.tool] == [None, None]
    out = result.artifacts["image-2"].load()
    assert (out[5:15, 5:25] == 180).all() and (out[20:] == 255).all()
