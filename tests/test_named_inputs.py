"""Named inputs (masks, boxes, texts by handle): checked like images, fitted to their image, stored."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from llm.scripted import ScriptedChatModel
from orchestrator.agent.input_artifacts import assign_handles, store_inputs
from orchestrator.config import ReactorConfig
from orchestrator.errors import InputError
from orchestrator.named_inputs import collect_inputs
from orchestrator.storage.artifacts import ArtifactRecord, ArtifactStore

CONFIG = ReactorConfig()


def image(width: int = 40, height: int = 30) -> np.ndarray:
    return np.full((height, width, 3), 90, np.uint8)


def mask(width: int = 40, height: int = 30, dtype: Any = bool, on: int = 1) -> np.ndarray:
    array = np.zeros((height, width), dtype)
    array[5:15, 10:20] = on
    return array


def handles(images: Any = None, videos: Any = None, inputs: Any = None, table: dict | None = None) -> dict:
    assigned = assign_handles(table or {}, collect_inputs(images, videos, inputs, CONFIG))
    return {handle: item for handle, item in assigned}


def record(handle: str, kind: str, shape: list[int]) -> ArtifactRecord:
    return {
        "handle": handle,
        "id": "0" * 64,
        "kind": kind,
        "shape": shape,
        "producer_step": 1,
        "producer": "crop",
        "parents": [],
        "uri": "00/x.png",
    }


@pytest.mark.parametrize(
    "value",
    [
        mask(),
        mask(dtype=np.uint8),
        mask(dtype=np.uint8, on=255),
        mask(dtype=np.float32),
        mask()[:, :, None],
        Image.fromarray(mask(dtype=np.uint8, on=255)),
    ],
    ids=["bool", "0-1", "0-255", "float", "HxWx1", "PIL"],
)
def test_a_binary_mask_in_any_common_form_is_taken_as_bool(value: Any) -> None:
    found = handles([image()], inputs={"mask-1": value})
    item = found["mask-1"]
    assert item.kind == "mask" and item.value.dtype == np.bool_ and item.shape == [40, 30]
    assert np.array_equal(item.value, mask()) and item.target == "image-1"


def test_a_mask_file_is_read_as_an_image(tmp_path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(mask(dtype=np.uint8, on=255)).save(buffer, format="PNG")
    path = tmp_path / "mask.png"
    path.write_bytes(buffer.getvalue())
    for value in (buffer.getvalue(), path, str(path)):
        assert np.array_equal(handles([image()], inputs={"mask-3": value})["mask-3"].value, mask())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            np.arange(1200, dtype=np.uint8).reshape(30, 40),
            r"must be binary .*holds 256 values .*threshold it",
        ),
        (np.zeros((30, 40), bool), "the mask is empty"),
        (mask(20, 10), r"the mask is 20x10 but image-1 is 40x30; give a mask of the same size"),
        (np.ones((30, 40, 3), np.uint8), r"non-empty HxW array, got shape \(30, 40, 3\)"),
        (mask().astype(object), "must hold booleans or numbers"),
        ("nope.png", "nope.png does not exist"),
        (b"junk", "not an image file PIL can read"),
        ([[0, 1]], "cannot use a list as a mask"),
    ],
)
def test_a_mask_that_is_not_binary_or_does_not_fit_is_refused(value: Any, message: str) -> None:
    with pytest.raises(InputError, match=r"inputs\['mask-1'\]: .*" + message):
        handles([image()], inputs={"mask-1": value})


def test_boxes_are_checked_inside_the_image_they_are_for() -> None:
    found = handles([image()], inputs={"boxes-1": [[0, 0, 40, 30], {"box": [1, 2, 3.0, 4], "label": "cup"}]})
    assert found["boxes-1"].value == [{"box": [0, 0, 40, 30]}, {"box": [1, 2, 3, 4], "label": "cup"}]
    assert found["boxes-1"].shape == [2] and found["boxes-1"].target == "image-1"
    for boxes, message in [
        ([[0, 0, 41, 30]], r"box 0 \[0, 0, 41, 30\] does not lie inside image-1 \(40x30\)"),
        ([[5, 5, 5, 9]], r"box 0 \[5, 5, 5, 9\] does not lie inside"),
        ([[0, 0, 1.5, 2]], r"box 0 must be four integer pixel coordinates"),
        ([[0, 0, 2]], "box 0 must be four integer"),
        ([{"box": [0, 0, 2, 2], "colour": "red"}], r"unknown keys \['colour'\]"),
        ([], "non-empty list"),
    ]:
        with pytest.raises(InputError, match=message):
            handles([image()], inputs={"boxes-1": boxes})


def test_with_several_images_a_mask_or_boxes_names_the_one_it_is_for() -> None:
    two = [image(), image(80, 60)]
    with pytest.raises(
        InputError, match=r"say which image or video boxes-1 is for \(the run has image-1, image-2\)"
    ):
        handles(two, inputs={"boxes-1": [[0, 0, 60, 50]]})
    found = handles(two, inputs={"boxes-1": {"boxes": [[0, 0, 60, 50]], "for": "image-2"}})
    assert found["boxes-1"].target == "image-2"
    with pytest.raises(
        InputError, match=r"say which image or video mask-1 is for \(no image or video is given"
    ):
        handles(inputs={"mask-1": mask()})
    with pytest.raises(
        InputError, match=r"is for 'image-7', which is not an image or video here \(image-1, image-2\)"
    ):
        handles(two, inputs={"mask-1": {"mask": mask(), "for": "image-7"}})
    with pytest.raises(InputError, match=r"give the mask alone, or as \{'mask': …, 'for'"):
        handles(two, inputs={"mask-1": {"mask": mask(), "image": "image-1"}})
    table = {"image-1": record("image-1", "image", [80, 60]), "text-1": record("text-1", "text", [3])}
    later = handles(inputs={"mask-1": {"mask": mask(80, 60), "for": "image-1"}}, table=table)
    assert later["mask-1"].target == "image-1"  # an image of the session, from an earlier run
    with pytest.raises(InputError, match="is for 'text-1', a text; name an image or video"):
        handles(inputs={"mask-1": {"mask": mask(), "for": "text-1"}}, table=table)


def test_texts_and_named_images() -> None:
    found = handles(inputs={"text-2": "the shelf on the left", "image-4": image(8, 6)})
    assert found["text-2"].value == "the shelf on the left" and found["text-2"].shape == [21]
    assert found["image-4"].shape == [8, 6]
    for value, message in [
        ("  ", "non-empty string"),
        (7, "non-empty string, got int"),
        ("x" * 200_001, "keep it under"),
    ]:
        with pytest.raises(InputError, match=message):
            handles(inputs={"text-1": value})
    with pytest.raises(InputError, match="a named input's key is its handle, like 'mask-1'"):
        handles(inputs={"my mask": mask()})
    with pytest.raises(InputError, match="inputs must be a mapping of handles to values"):
        handles(inputs=[mask()])


def test_named_handles_must_be_free_and_the_others_take_the_next_free_ones() -> None:
    table = {"mask-1": record("mask-1", "mask", [40, 30]), "image-1": record("image-1", "image", [40, 30])}
    with pytest.raises(
        InputError,
        match=r"'mask-1' is already taken in this session \(by a mask from crop\); name it 'mask-2'",
    ):
        handles([image()], inputs={"mask-1": mask()}, table=table)
    named = {"image-2": image(), "mask-2": {"mask": mask(), "for": "image-2"}}
    found = handles([image(), image()], inputs=named, table=table)
    assert sorted(found) == ["image-2", "image-3", "image-4", "mask-2"]  # image-2 is taken by name
    assert found["image-2"].where == "inputs['image-2']"
    with pytest.raises(InputError, match="say which image or video mask-2 is for"):
        handles([image(), image()], inputs={"mask-2": mask()}, table={})


def test_stored_inputs_become_artifacts_with_lineage(tmp_path) -> None:
    pytest.importorskip("av")
    from tests.support.videos import encode_video

    store = ArtifactStore(tmp_path)
    clip = encode_video(12, fmt="gif")
    inputs = collect_inputs(
        [image()],
        [clip],
        {
            "mask-1": {"mask": mask(96, 64), "for": "video-1"},
            "boxes-1": {"boxes": [[0, 0, 4, 4]], "for": "image-1"},
            "text-1": "hi",
        },
        CONFIG,
    )
    remembered: list[str] = []
    records = store_inputs(
        store, {}, inputs, remember=lambda artifact_id, array: remembered.append(artifact_id)
    )
    assert {h: (r["kind"], r["parents"], r["producer"]) for h, r in records.items()} == {
        "image-1": ("image", [], "input"),
        "video-1": ("video", [], "input"),
        "mask-1": ("mask", ["video-1"], "input"),
        "boxes-1": ("boxes", ["image-1"], "input"),
        "text-1": ("text", [], "input"),
    }
    assert records["video-1"]["shape"][:3] == [96, 64, 12] and records["video-1"]["uri"].endswith(".bin")
    assert store.load(records["video-1"]) == clip  # the original file, as given
    assert store.load(records["boxes-1"]) == [{"box": [0, 0, 4, 4]}] and store.load(records["text-1"]) == "hi"
    assert np.array_equal(store.load(records["mask-1"]), mask(96, 64))
    assert remembered == [records["image-1"]["id"], records["mask-1"]["id"]]  # decoded pixels kept at hand


# --- through the SDK ------------------------------------------------------------------------------


@pytest.mark.ray
def test_named_inputs_through_run_and_run_plan(orch) -> None:
    picture = image()
    plan = [
        {"id": 0, "tool": "overlay_mask", "arguments": {"image": "image-1", "mask": "mask-1", "alpha": 1.0}}
    ]
    named = {
        "mask-1": mask(),
        "boxes-1": [[0, 0, 10, 10], {"box": [5, 5, 40, 30], "label": "cup"}],
        "text-1": "hello",
    }
    planned = orch.run_plan(plan, images=[picture], inputs=named, session="named-inputs")
    assert planned.ok, planned.failure
    assert planned.artifacts["mask-1"].parents == ["image-1"] and planned.artifacts["boxes-1"].kind == "boxes"
    assert planned.artifacts["image-2"].parents == ["image-1", "mask-1"]
    painted = np.asarray(planned.artifacts["image-2"].load())
    assert (painted[10, 15] != picture[10, 15]).any() and (painted[25, 35] == picture[25, 35]).all()
    assert planned.artifacts["boxes-1"].load()[1] == {"box": [5, 5, 40, 30], "label": "cup"}

    script = ScriptedChatModel(["Final Answer: seen"])
    later = orch.run(
        "look",
        inputs={"text-2": "again", "mask-2": mask()},
        images=[picture],
        session="named-inputs",
        chat_model=script,
    )
    assert later.ok, later.failure
    listing = script.seen[0][-1]["content"]
    assert (  # the new inputs, and a count of all (the earlier ones are in the earlier run's turns)
        "- text-2: text 5 chars, input text" in listing
        and "- mask-2: mask 40x30, input mask for image-3" in listing
        and "8 in all" in listing
        and "boxes-1" not in listing
    )

    runs = len(orch.runner.values("named-inputs")["runs"])
    with pytest.raises(InputError, match=r"'text-1' is already taken in this session .*name it 'text-3'"):
        orch.run("again", inputs={"text-1": "x"}, session="named-inputs", chat_model=script)
    with pytest.raises(InputError, match="'mask-1' is already taken"):
        orch.run_plan(plan, inputs={"mask-1": {"mask": mask(), "for": "image-1"}}, session="named-inputs")
    assert len(orch.runner.values("named-inputs")["runs"]) == runs  # refused before any work
