"""The inpaint expert on a tiny random SD inpainting pipeline, deployed on the shared Ray.

Masks come from the test-only ``threshold`` expert in the same session, as a segmentation
expert's masks would.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from experts.inpaint import Inpaint
from loading import ModelNotAvailable
from tests.experts.harness import call_tool, deployed, observation
from tests.experts.tiny_diffusion import build_tiny_inpaint

pytestmark = pytest.mark.ray


def photo(width: int, height: int) -> np.ndarray:
    """A dark gradient with one bright rectangle (the 'object' the threshold expert masks)."""
    ys, xs = np.mgrid[0:height, 0:width]
    array = np.stack([xs * 2 % 100, ys * 2 % 100, np.full_like(xs, 30)], axis=2).astype(np.uint8)
    array[12:30, 20:44] = 240
    return array


@pytest.fixture(scope="module")
def tool(orch, tmp_path_factory: pytest.TempPathFactory):
    model = build_tiny_inpaint(tmp_path_factory.mktemp("tiny-inpaint") / "sd-inpaint")
    options = {"model": str(model), "num_inference_steps": 2, "device": "cpu"}
    with deployed(orch, Inpaint, options=options, timeout_s=120, max_ongoing_requests=4) as name:
        yield name


@pytest.fixture(scope="module")
def session(orch) -> tuple[str, dict[str, np.ndarray]]:
    """A session with image-1 (61x45), image-2 (32x24), and masks of their bright rectangles.

    mask-1: image-1's rectangle; mask-2: image-2's rectangle; mask-3: empty (of image-1).
    """
    sid = f"inpaint-{uuid.uuid4().hex[:8]}"
    arrays = {"image-1": photo(61, 45), "image-2": photo(32, 24)}
    calls = [
        {"image": "image-1", "level": 200},
        {"image": "image-2", "level": 200},
        {"image": "image-1", "level": 255},
    ]
    result = call_tool(orch, "threshold", calls, list(arrays.values()), session=sid)
    assert result.ok
    assert [result.artifacts[f"mask-{i}"].parents for i in (1, 2, 3)] == [
        ["image-1"],
        ["image-2"],
        ["image-1"],
    ]
    return sid, arrays


def test_only_the_masked_region_changes_at_the_original_size(orch, tool: str, session) -> None:
    sid, arrays = session
    source = arrays["image-1"]
    calls = [
        {"image": "image-1", "mask": "mask-1", "prompt": "an empty table", "dilate": 0, "seed": 5},
        {"image": "image-1", "mask": "mask-1", "prompt": "a red vase", "dilate": 4},
    ]
    result = call_tool(orch, tool, calls, session=sid)
    assert result.ok, result.steps
    exact, grown = (observation(result, i)["output"] for i in range(2))
    assert exact["seed"] == 5 and isinstance(grown["seed"], int) and exact["nsfw_blocked"] is False
    mask = source.mean(axis=2) > 200
    assert exact["repainted_fraction"] == round(float(mask.mean()), 4)
    assert grown["repainted_fraction"] > exact["repainted_fraction"]
    for out, dilate in ((exact, 0), (grown, 4)):
        artifact = result.artifacts[out["image"]["handle"]]
        assert artifact.kind == "image" and artifact.producer == tool
        assert artifact.shape == [61, 45]  # worked at 64x48, resized back to the original size
        assert sorted(artifact.parents) == ["image-1", "mask-1"]
        edited = artifact.load()
        region = mask
        if dilate:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1,) * 2)
            region = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        np.testing.assert_array_equal(edited[~region], source[~region])
        assert (edited[region] != source[region]).any()


def test_same_seed_gives_the_same_pixels(orch, tool: str, session) -> None:
    sid, _ = session
    base = {"image": "image-2", "mask": "mask-2", "prompt": "grass", "steps": 2, "guidance_scale": 3.0}
    calls = [{**base, "seed": 11}, {**base, "seed": 11}, {**base, "seed": 12}]
    result = call_tool(orch, tool, calls, session=sid)
    first, again, other = (
        result.artifacts[observation(result, i)["output"]["image"]["handle"]] for i in range(3)
    )
    assert first.shape == [32, 24]
    np.testing.assert_array_equal(first.load(), again.load())
    assert not np.array_equal(first.load(), other.load())


def test_bad_masks_are_clear_errors(orch, tool: str, session) -> None:
    sid, _ = session
    calls = [
        {"image": "image-1", "mask": "mask-2", "prompt": "a cat"},
        {"image": "image-1", "mask": "mask-3", "prompt": "a cat"},
        {"image": "image-1", "mask": "image-2", "prompt": "a cat"},
        {"image": "image-1", "mask": "mask-1", "prompt": ""},
    ]
    result = call_tool(orch, tool, calls, session=sid, expect_errors=range(len(calls)))
    errors = [observation(result, i).get("error", "") for i in range(len(calls))]
    assert "mask mask-2 is 32x24 but image image-1 is 61x45" in errors[0]
    assert "mask mask-3 is empty" in errors[1]
    assert "mask handle like 'mask-1' is needed" in errors[2]
    assert "prompt" in errors[3]
    assert not result.new_artifacts()


def test_missing_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match="no-such-inpainting"):
        Inpaint({"model": str(tmp_path / "no-such-inpainting"), "device": "cpu"}).setup()


def test_settings_and_schema() -> None:  # defaults, unknown keys: test_contract.py
    with pytest.raises(ValidationError):
        Inpaint.Settings.model_validate({"scheduler": "magic"})
    schema = Inpaint.argument_schema()
    assert schema["required"] == ["image", "mask", "prompt"]
    assert schema["properties"]["mask"]["type"] == "string"
