"""The cutout expert, and RGBA images end to end: stored as RGBA PNGs, read by every expert as RGB."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from experts.base import ExpertError, ImageData, NewImage
from experts.cutout import Cutout
from experts.protocol import PixelRef, pack_output, pixel_content_id
from llm.scripted import ScriptedChatModel
from orchestrator.storage.artifacts import ArtifactStore
from tests.experts.harness import deployed
from tests.experts.pixels import call, gradient_image, image, mask, rect_mask


def test_cuts_the_mask_out_cropped_to_its_box() -> None:
    pixels = gradient_image()
    shape = rect_mask((10, 5, 30, 20))
    shape[5, 10] = False  # not a rectangle: the corner pixel is left out
    out = call(Cutout, image=image(pixels), masks=[mask(shape)])
    (rgba,) = [item.array for item in out.images]
    assert rgba.shape == (15, 20, 4) and out.boxes == [[10, 5, 30, 20]]
    inside = shape[5:20, 10:30]
    assert np.array_equal(rgba[:, :, 3] == 255, inside) and not rgba[:, :, 3][~inside].any()
    assert np.array_equal(rgba[inside, :3], pixels[5:20, 10:30][inside])
    assert not rgba[~inside, :3].any()  # transparent pixels are black: RGB readers see the object on black
    assert out.areas == [int(shape.sum())]


def test_padding_is_clipped_and_crop_false_keeps_the_size() -> None:
    pixels = gradient_image()
    out = call(Cutout, image=image(pixels), masks=[mask(rect_mask((2, 3, 10, 10)))], padding=5)
    assert out.boxes == [[0, 0, 15, 15]] and out.images[0].array.shape == (15, 15, 4)
    whole = call(Cutout, image=image(pixels), masks=[mask(rect_mask((2, 3, 10, 10)))], crop=False)
    assert whole.images[0].array.shape == (48, 64, 4) and whole.boxes == [[0, 0, 64, 48]]
    assert whole.areas == [56]


def test_several_masks_give_their_union_or_one_cut_out_each() -> None:
    pixels = gradient_image()
    masks = [mask(rect_mask((0, 0, 10, 10)), "mask-1"), mask(rect_mask((40, 30, 50, 40)), "mask-2")]
    union = call(Cutout, image=image(pixels), masks=masks)
    assert union.boxes == [[0, 0, 50, 40]] and union.areas == [200]
    separate = call(Cutout, image=image(pixels), masks=masks, separate=True)
    assert separate.boxes == [[0, 0, 10, 10], [40, 30, 50, 40]] and separate.areas == [100, 100]


def test_one_handle_is_a_list_of_one() -> None:
    inputs = Cutout.Input.model_validate({"image": "image-1", "masks": "mask-3"})
    assert [ref.handle for ref in inputs.masks] == ["mask-3"]
    with pytest.raises(ValidationError, match="at least 1 item"):
        Cutout.Input.model_validate({"image": "image-1", "masks": []})
    with pytest.raises(ValidationError, match="is a image handle but a mask handle"):
        Cutout.Input.model_validate({"image": "image-1", "masks": ["image-2"]})


def test_empty_or_mismatched_masks_are_input_errors() -> None:
    with pytest.raises(ExpertError, match="mask mask-1 is empty"):
        call(Cutout, image=image(gradient_image()), masks=[mask(np.zeros((48, 64), bool))])
    with pytest.raises(ExpertError, match="mask mask-1 is 10x10 but image image-1 is 64x48"):
        call(Cutout, image=image(gradient_image()), masks=[mask(np.ones((10, 10), bool))])


def test_cutting_a_cut_out_keeps_its_transparency() -> None:
    pixels, alpha = gradient_image(), rect_mask((0, 0, 20, 48)).astype(np.uint8) * 255
    source = ImageData("image-2", pixels, alpha=alpha)
    out = call(Cutout, image=source, masks=[mask(rect_mask((10, 0, 30, 48)))])
    assert out.boxes == [[10, 0, 30, 48]] and out.areas == [10 * 48]  # only the part still opaque


# --- RGBA on the wire and in the store ------------------------------------------------------------


def test_rgba_images_are_stored_as_rgba_and_reach_experts_as_rgb(tmp_path) -> None:
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[2:4, 3:6] = [200, 100, 50, 255]
    rgba[0, 0] = [100, 100, 100, 128]  # half transparent
    _plain, artifacts = pack_output(
        Cutout.Output(images=[NewImage(rgba)], boxes=[[0, 0, 8, 6]], areas=[7]), id
    )
    (new,) = artifacts
    assert new.summary == {"size": [8, 6], "mode": "RGBA"} and new.content_id == pixel_content_id(
        "image", rgba
    )
    store = ArtifactStore(tmp_path)
    artifact_id, shape, uri = store.put("image", rgba)
    assert artifact_id == new.content_id and shape == [8, 6]
    record = {"handle": "image-2", "id": artifact_id, "kind": "image", "uri": uri}
    loaded = store.load(record)
    assert loaded.shape == (6, 8, 4) and np.array_equal(loaded, rgba)
    seen = PixelRef("image-2", "image", artifact_id, None).data(loaded)
    assert isinstance(seen, ImageData) and seen.array.shape == (6, 8, 3)
    assert np.array_equal(seen.alpha, rgba[:, :, 3]) and seen.content_id == artifact_id
    assert seen.array[2, 3].tolist() == [200, 100, 50] and seen.array[0, 0].tolist() == [50, 50, 50]
    assert not seen.array[5, 7].any()  # fully transparent: black


def test_other_channel_counts_are_refused() -> None:
    with pytest.raises(ValueError, match=r"HxWx3 uint8 \(RGB\) or HxWx4 uint8 \(RGBA\)"):
        pack_output(Cutout.Output(images=[NewImage(np.zeros((4, 4, 2), np.uint8))], boxes=[], areas=[]), id)


# --- through Serve ----------------------------------------------------------------------------------


def bright_square() -> np.ndarray:
    picture = gradient_image() // 4
    picture[10:30, 20:44] = 250
    return picture


@pytest.mark.ray
def test_run_plan_cuts_out_and_an_rgb_expert_reads_the_cut_out(orch) -> None:
    plan = [
        {"id": 0, "tool": "threshold", "arguments": {"image": "image-1", "level": 200}},
        {"id": 1, "tool": "cutout", "arguments": {"image": "image-1", "masks": "<step-0>", "padding": 2}},
        {"id": 2, "tool": "crop", "arguments": {"image": "<step-1>", "box": [0, 0, 6, 6]}},
    ]
    with deployed(orch, "cutout"):
        result = orch.run_plan(plan, images=[bright_square()])
    assert result.ok, result.failure
    cut = result.artifacts["image-2"].load()
    assert cut.shape == (24, 28, 4) and result.artifacts["image-2"].parents == ["image-1", "mask-1"]
    assert (cut[2:22, 2:26, 3] == 255).all() and cut[:2, :, 3].sum() == 0
    corner = result.artifacts["image-3"].load()  # crop read the RGBA cut-out as RGB on black
    assert corner.shape == (6, 6, 3)
    assert np.array_equal(corner, (cut[:6, :6, :3].astype(int) * cut[:6, :6, 3:] // 255).astype(np.uint8))


@pytest.mark.ray
def test_the_react_loop_sees_a_transparent_cut_out(orch) -> None:
    turns = [
        'Thought: find it\nAction: threshold\nAction Input: {"image": "image-1", "level": 200}',
        'Thought: cut it\nAction: cutout\nAction Input: {"image": "image-1", "masks": ["mask-1"]}',
        "Thought: done\nFinal Answer: image-2",
    ]
    with deployed(orch, "cutout"):
        result = orch.run("cut out the square", images=[bright_square()], chat_model=ScriptedChatModel(turns))
    assert result.ok, result.failure
    steps = [s for s in result.steps if s.tool]
    assert [s.error for s in steps] == [None, None]
    output = json.loads(steps[1].observation)["output"]
    assert output["images"][0] == {"handle": "image-2", "size": [24, 20], "mode": "RGBA"}
    assert output["boxes"] == [[20, 10, 44, 30]] and output["areas"] == [480]
