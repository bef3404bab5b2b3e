"""The region expert: halves, thirds, corners and the centre of an image; the side of a box."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from experts.base import ExpertError, ImageData
from experts.region import Region, image_part
from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed
from tests.experts.pixels import call, gradient_image, image


@pytest.mark.parametrize(
    ("part", "fraction", "box"),
    [
        ("left", "half", [0, 0, 30, 40]),
        ("right", "half", [30, 0, 60, 40]),
        ("top", "third", [0, 0, 60, 13]),
        ("bottom", "third", [0, 27, 60, 40]),
        ("top_right", "half", [30, 0, 60, 20]),
        ("bottom_left", "third", [0, 27, 20, 40]),
        ("center", "half", [15, 10, 45, 30]),
        ("center", "third", [20, 13, 40, 26]),
    ],
)
def test_parts_of_the_image(part: str, fraction: str, box: list[int]) -> None:
    assert image_part(part, fraction, 60, 40) == box


def test_a_tiny_image_still_has_a_region() -> None:
    assert image_part("left", "third", 1, 1) == [0, 0, 1, 1]


def test_crop_and_box_of_a_part() -> None:
    pixels = gradient_image()
    out = call(Region, image=image(pixels), part="right", fraction="third")
    assert out.box == [43, 0, 64, 48] and np.array_equal(out.image.array, pixels[:, 43:])
    assert call(Region, image=image(pixels), part="top", crop=False).image is None


@pytest.mark.parametrize(
    ("side", "band", "expected"),
    [
        ("left_of", False, [0, 0, 20, 48]),
        ("right_of", False, [30, 0, 64, 48]),
        ("above", False, [0, 0, 64, 10]),
        ("below", True, [20, 25, 30, 48]),
        ("left_of", True, [0, 10, 20, 25]),
    ],
)
def test_the_side_of_a_box(side: str, band: bool, expected: list[int]) -> None:
    out = call(Region, image=image(gradient_image()), part=side, box=[20, 10, 30, 25], band=band)
    assert out.box == expected and out.image.array.shape[:2] == (
        expected[3] - expected[1],
        expected[2] - expected[0],
    )


def test_a_box_past_the_image_is_clamped() -> None:
    out = call(Region, image=image(gradient_image()), part="right_of", box=[-10, 40, 50, 90])
    assert out.box == [50, 0, 64, 48]


def test_boxes_that_leave_nothing_are_input_errors() -> None:
    pixels = image(gradient_image())
    with pytest.raises(
        ExpertError, match=r"nothing lies left of box \[0, 5, 10, 10\]: it touches the image's left edge"
    ):
        call(Region, image=pixels, part="left_of", box=[0, 5, 10, 10])
    with pytest.raises(ExpertError, match="lies outside the 64x48 image"):
        call(Region, image=pixels, part="below", box=[70, 5, 80, 10])
    with pytest.raises(ExpertError, match="empty or reversed"):
        call(Region, image=pixels, part="above", box=[30, 5, 10, 10])


def test_box_is_required_exactly_for_the_sides_of_a_box() -> None:
    with pytest.raises(ValidationError, match="part 'left_of' needs 'box'"):
        Region.Input.model_validate({"image": "image-1", "part": "left_of"})
    with pytest.raises(ValidationError, match="'box' is only used with left_of"):
        Region.Input.model_validate({"image": "image-1", "part": "left", "box": [0, 0, 1, 1]})


def test_a_region_of_a_cut_out_stays_transparent() -> None:
    alpha = np.zeros((48, 64), np.uint8)
    alpha[:, 32:] = 255
    out = call(Region, image=ImageData("image-2", gradient_image(), alpha=alpha), part="center")
    assert out.image.array.shape == (24, 32, 4) and (out.image.array[:, :16, 3] == 0).all()


@pytest.mark.ray
def test_crop_left_of_a_found_box_in_one_step(orch) -> None:
    """VisProg's CROP_LEFTOF(box): the box comes from an earlier step's output."""
    picture = gradient_image() // 4
    picture[10:30, 40:50] = 255
    plan = [
        {"id": 0, "tool": "threshold", "arguments": {"image": "image-1", "level": 200}},
        {
            "id": 1,
            "tool": "region",
            "arguments": {"image": "image-1", "part": "left_of", "box": "<step-0>.mask.bbox"},
        },
    ]
    with deployed(orch, "region"):
        result = orch.run_plan(plan, images=[picture])
    assert result.ok, result.failure
    step = [s for s in result.steps if s.tool][1]
    assert step.arguments["box"] == [40, 10, 50, 30]
    assert result.artifacts["image-2"].shape == [40, 48]


@pytest.mark.ray
def test_in_the_react_loop(orch) -> None:
    turns = [
        'Thought: top third\nAction: region\nAction Input: {"image": "image-1", "part": "top", '
        '"fraction": "third"}',
        "Thought: done\nFinal Answer: image-2",
    ]
    with deployed(orch, "region"):
        result = orch.run("the top", images=[gradient_image()], chat_model=ScriptedChatModel(turns))
    assert result.ok, result.failure
    step = next(s for s in result.steps if s.tool)
    output = json.loads(step.observation)["output"]
    assert step.error is None and output["box"] == [0, 0, 64, 16] and output["image"]["handle"] == "image-2"
    assert np.array_equal(result.artifacts["image-2"].load(), gradient_image()[:16])
