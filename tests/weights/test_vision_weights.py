"""The vision experts with their real default models: each reads the scene as a person would."""

from __future__ import annotations

import numpy as np
import pytest

from experts.base import ImageData
from tests.weights.layout import model_dir
from tests.weights.scene import (
    DISC_BOX,
    DISC_CENTRE,
    SQUARE_BOX,
    box_iou,
    disc_mask,
    mask_iou,
    scene,
    square_mask,
)

pytestmark = pytest.mark.weights


def picture() -> ImageData:
    return ImageData("image-1", scene())


def test_detect_finds_the_disc_and_the_square() -> None:
    from experts.detect import Detect

    expert = Detect({"model": model_dir(Detect.Settings().model)})
    expert.setup()
    inputs = {"image": picture(), "phrases": ["red circle", "blue square"], "box_threshold": 0.25}
    out = expert.run(Detect.Input.model_validate(inputs))
    best: dict[str, dict] = {}
    for item in out.detections.items:
        if item["score"] > best.get(item["label"], {"score": -1.0})["score"]:
            best[item["label"]] = item
    assert set(best) == {"red circle", "blue square"}, out.detections.items
    assert box_iou(best["red circle"]["box"], DISC_BOX) > 0.7, best
    assert box_iou(best["blue square"]["box"], SQUARE_BOX) > 0.7, best


def test_segment_outlines_a_clicked_disc_and_a_boxed_square() -> None:
    from experts.segment import Segment

    expert = Segment({"model": model_dir(Segment.Settings().model)})
    expert.setup()
    clicked = expert.run(Segment.Input.model_validate({"image": picture(), "points": [list(DISC_CENTRE)]}))
    boxed = expert.run(Segment.Input.model_validate({"image": picture(), "boxes": [SQUARE_BOX]}))
    disc, square = (
        mask_iou(clicked.masks[0].array, disc_mask()),
        mask_iou(boxed.masks[0].array, square_mask()),
    )
    assert disc > 0.85 and square > 0.9, (disc, square)


def test_clip_names_each_region_and_ranks_by_the_query() -> None:
    from experts.clip import Clip

    expert = Clip({"model": model_dir(Clip.Settings().model)})
    expert.setup()
    labels = ["a red circle", "a blue square", "a green triangle"]
    regions = {"image": picture(), "labels": labels, "boxes": [DISC_BOX, SQUARE_BOX]}
    out = expert.run(Clip.Input.model_validate(regions))
    assert [p["label"] for p in out.predictions] == ["a red circle", "a blue square"]
    x0, y0, x1, y1 = SQUARE_BOX
    crops = [ImageData("image-1", scene()[140:341, 70:271]), ImageData("image-2", scene()[y0:y1, x0:x1])]
    ranked = expert.run(
        Clip.Input.model_validate({"mode": "rank", "images": crops, "query": "a blue square"})
    )
    assert ranked.ranking[0]["image"] == "image-2"


def test_mllm_says_what_colour_the_circle_is() -> None:
    from experts.mllm import Mllm

    expert = Mllm({"model": model_dir(Mllm.Settings().model), "max_new_tokens": 24})
    expert.setup()
    question = "What colour is the circle? Answer with one word."
    answer = expert.run(Mllm.Input.model_validate({"image": picture(), "mode": "vqa", "question": question}))
    assert "red" in answer.text.lower(), answer.text
    region = expert.run(Mllm.Input.model_validate({"image": picture(), "mode": "region", "box": SQUARE_BOX}))
    assert "blue" in region.text.lower(), region.text
    assert np.array_equal(picture().array, scene())  # the input is not changed
