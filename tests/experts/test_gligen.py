"""The gligen expert on tiny random GLIGEN pipelines, deployed from saved directories through the SDK."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from experts.base import ExpertError, ImageData
from experts.gligen import Gligen, normalise_boxes
from loading import ModelNotAvailable
from tests.experts.harness import call_tool, deployed, observation
from tests.experts.tiny_gligen import build_tiny_gligen

pytestmark = pytest.mark.ray

# An input image whose size differs from the tiny pipeline's 32x32 working square.
PHOTO = np.random.default_rng(0).integers(0, 256, size=(24, 40, 3), dtype=np.uint8)
PHOTO_BOXES = [[2, 2, 18, 12], [24, 8, 38, 22]]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gligen")
    return build_tiny_gligen(root / "generation"), build_tiny_gligen(root / "inpainting", inpainting=True)


@pytest.fixture(scope="module")
def gligen(orch, model_dirs):
    generation, inpainting = model_dirs
    options = {"model": str(generation), "inpaint_model": str(inpainting), "num_inference_steps": 2}
    with deployed(orch, Gligen, options=options, num_cpus=1, max_ongoing_requests=8, timeout_s=120) as name:
        yield name


def _generate(**extra):
    return {
        "prompt": "a park",
        "phrases": ["a dog", "a ball"],
        "boxes": [[0, 0, 24, 16], [30, 8, 48, 32]],
    } | extra


def _inpaint(**extra):
    return {
        "prompt": "a park",
        "phrases": ["a dog", "a ball"],
        "boxes": PHOTO_BOXES,
        "image": "image-1",
    } | extra


def test_generates_an_image_of_the_asked_size_with_the_phrases_boxes(orch, gligen):
    result = call_tool(orch, gligen, _generate(width=48, height=32, seed=11))
    assert result.ok, result.steps
    out = observation(result)["output"]
    assert out["seed"] == 11 and out["nsfw_blocked"] is False
    assert out["image"] == {"handle": "image-1", "size": [48, 32]}
    expected = [{"box": [0, 0, 24, 16], "label": "a dog"}, {"box": [30, 8, 48, 32], "label": "a ball"}]
    assert out["boxes"]["handle"] == "boxes-1" and out["boxes"]["items"] == expected
    image, boxes = result.artifacts["image-1"], result.artifacts["boxes-1"]
    assert (image.kind, image.shape, image.producer, image.parents) == ("image", [48, 32], "gligen", [])
    pixels = image.load()
    assert pixels.shape == (32, 48, 3) and pixels.dtype == np.uint8 and pixels.std() > 0
    assert boxes.kind == "boxes" and boxes.load() == expected


def test_inpaints_the_boxes_of_an_image_and_keeps_its_size_and_the_rest(orch, gligen):
    result = call_tool(orch, gligen, _inpaint(seed=3), images=[PHOTO])
    assert result.ok, result.steps
    out = observation(result)["output"]
    assert out["image"] == {"handle": "image-2", "size": [40, 24]}
    assert [item["box"] for item in out["boxes"]["items"]] == PHOTO_BOXES
    image = result.artifacts["image-2"]
    assert image.shape == [40, 24] and image.parents == ["image-1"] and image.producer == "gligen"
    assert result.artifacts["boxes-1"].parents == ["image-1"]
    pixels = image.load()
    inside = np.zeros(PHOTO.shape[:2], dtype=bool)
    for x0, y0, x1, y1 in PHOTO_BOXES:
        inside[y0:y1, x0:x1] = True
    assert np.array_equal(pixels[~inside], PHOTO[~inside])  # keep_outside_boxes
    assert not np.array_equal(pixels[inside], PHOTO[inside])


def test_the_same_seed_gives_the_same_image(orch, gligen):
    size = {"width": 48, "height": 32}
    calls = [
        _generate(seed=7, **size),
        _generate(seed=7, **size),
        _generate(seed=8, **size),
        _generate(**size),
        _inpaint(seed=5),
        _inpaint(seed=5),
    ]
    result = call_tool(orch, gligen, calls, images=[PHOTO])
    assert result.ok, result.steps
    outs = [observation(result, i)["output"] for i in range(len(calls))]
    ids = [result.artifacts[out["image"]["handle"]].id for out in outs]
    assert ids[0] == ids[1] != ids[2]
    assert ids[4] == ids[5]  # inpainting also draws from the global RNG: seeded too
    drawn = outs[3]["seed"]
    assert isinstance(drawn, int) and 0 <= drawn < 2**32
    again = call_tool(orch, gligen, _generate(seed=drawn, **size))
    assert again.artifacts["image-1"].id == ids[3]


BAD_CALLS = [
    (_generate(phrases=["a dog"]), "1 phrases but 2 boxes"),
    (_generate(phrases=[], boxes=[]), "at least one phrase"),
    (_generate(phrases=["a dog", " "]), "must not be empty"),
    (_generate(prompt=" "), "prompt is empty"),
    (_generate(width=16, height=32), "boxes[0] [0, 0, 24, 16] extends past the 16x32 image"),
    (
        _generate(width=48, height=32, boxes=[[0, 0, 24, 16], [60, 40, 70, 50]]),
        "boxes[1] [60, 40, 70, 50] lies",
    ),
    (_generate(width=2048), "width 2048 is out of range"),
    (_generate(height=0), "height 0 is out of range"),
    (_generate(width=52), "width 52 is not a multiple of 8"),
    (_generate(phrases=["x"] * 31, boxes=[[0, 0, 8, 8]] * 31), "at most 30"),
    (_inpaint(boxes=[[2, 2, 18, 12], [24, 8, 48, 22]]), "extends past the 40x24 image"),
    (_inpaint(width=32, height=32), "differ from the 40x24 image"),
    (_generate(steps=0), "steps"),
]


def test_bad_inputs_become_error_observations(orch, gligen):
    bad = [args for args, _ in BAD_CALLS]
    result = call_tool(orch, gligen, bad, images=[PHOTO], expect_errors=range(len(bad)))
    for index, (_, expected) in enumerate(BAD_CALLS):
        body = observation(result, index)
        assert "error" in body and expected in body["error"], (index, body)
    assert not any(a.producer == "gligen" for a in result.artifacts.values())


def test_missing_or_wrong_models_are_named_at_setup(tmp_path, model_dirs):
    generation, inpainting = model_dirs
    missing = tmp_path / "no-such-gligen"
    with pytest.raises(ModelNotAvailable, match=f"gligen.*{re.escape(str(missing))}"):
        Gligen({"model": str(missing), "inpaint_model": str(inpainting)}).setup()
    with pytest.raises(ModelNotAvailable, match="9 input channels; a GLIGEN generation checkpoint has 4"):
        Gligen({"model": str(inpainting), "inpaint_model": str(inpainting)}).setup()
    for inpaint_model, problem in [
        (missing, re.escape(str(missing))),
        (generation, "inpainting checkpoint has 9"),
    ]:
        expert = Gligen({"model": str(generation), "inpaint_model": str(inpaint_model)})
        with pytest.raises(ModelNotAvailable, match=problem):  # loaded with the other, not on first use
            expert.setup()


def test_without_an_inpainting_model_an_image_call_says_so(model_dirs):
    generation, _ = model_dirs
    expert = Gligen({"model": str(generation), "inpaint_model": None, "num_inference_steps": 1})
    expert.setup()
    photo = Gligen.Input.model_validate(_inpaint() | {"image": ImageData("image-1", PHOTO)})
    with pytest.raises(ExpertError, match=r"options\.inpaint_model is not set.*leave 'image' out"):
        expert.run(photo)
    new = Gligen.Input.model_validate(_generate(width=16, height=16, boxes=[[0, 0, 8, 8], [8, 8, 16, 16]]))
    assert expert.run(new).image.array.shape == (16, 16, 3)


def test_box_normalisation_and_schema():
    assert normalise_boxes([(0, 0, 40, 12), (10, 6, 20, 24)], 40, 24) == [
        [0, 0, 1, 0.5],
        [0.25, 0.25, 0.5, 1],
    ]
    schema = Gligen.argument_schema()
    assert {"prompt", "phrases", "boxes"} <= set(schema["required"]) and "image" not in schema["required"]
