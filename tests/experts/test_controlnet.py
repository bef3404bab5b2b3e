"""The controlnet expert on tiny random SD + ControlNet + UperNet models, deployed on the shared Ray.

Maps from the annotator experts (depth-N, pose-N …) driving it in plans: test_annotators_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from experts._conditions import CONDITION_KINDS
from experts.base import ExpertError, ImageData
from experts.controlnet import ADE20K_PALETTE, ControlNet
from loading import ModelNotAvailable
from tests.experts.harness import call_tool, deployed, observation
from tests.experts.tiny_diffusion import (
    build_tiny_controlnet,
    build_tiny_sd,
    build_tiny_segmenter,
)

pytestmark = pytest.mark.ray


def photo(width: int = 60, height: int = 44) -> np.ndarray:
    """A dark image with a bright rectangle and a gradient: it has edges and depth-like structure."""
    ys, xs = np.mgrid[0:height, 0:width]
    array = np.stack([xs * 4 % 256, ys * 5 % 256, np.full_like(xs, 40)], axis=2).astype(np.uint8)
    array[10:30, 15:45] = 230
    return array


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-controlnet")
    return {
        "sd": build_tiny_sd(root / "sd"),
        "controlnet": build_tiny_controlnet(root / "controlnet"),
        "upernet": build_tiny_segmenter(root / "upernet"),
    }


@pytest.fixture(scope="module")
def tool(orch, models: dict[str, Path]):
    options = {
        "model": str(models["sd"]),
        "controlnets": {kind: str(models["controlnet"]) for kind in ("canny", "depth", "seg", "pose")},
        "seg_model": str(models["upernet"]),
        "num_inference_steps": 2,
        "device": "cpu",
    }
    with deployed(orch, ControlNet, options=options, timeout_s=120, max_ongoing_requests=4) as name:
        yield name


def test_canny_condition_is_computed_and_stored(orch, tool: str) -> None:
    source = photo()
    args = {"prompt": "a red house", "condition": "canny", "image": "image-1", "compute_condition": True}
    result = call_tool(orch, tool, {**args, "low_threshold": 50, "high_threshold": 150, "seed": 7}, [source])
    assert result.ok, result.steps
    out = observation(result)["output"]
    assert out["seed"] == 7 and out["nsfw_blocked"] is False
    generated, condition = (
        result.artifacts[out["image"]["handle"]],
        result.artifacts[out["condition"]["handle"]],
    )
    # 60x44 rounds to multiples of 8: 64x48; the condition map keeps the source's size
    assert generated.kind == "image" and generated.shape == [64, 48] and out["image"]["size"] == [64, 48]
    assert generated.load().shape == (48, 64, 3)
    assert generated.producer == tool and generated.parents == ["image-1"]
    assert condition.kind == "image" and condition.shape == [60, 44] and condition.parents == ["image-1"]
    edges = cv2.Canny(cv2.cvtColor(source, cv2.COLOR_RGB2GRAY), 50, 150)
    np.testing.assert_array_equal(condition.load(), np.repeat(edges[:, :, None], 3, axis=2))


def test_given_condition_with_seed_is_reproducible(orch, tool: str) -> None:
    base = {"prompt": "a forest", "condition": "depth", "condition_image": "image-1", "width": 64}
    calls = [{**base, "seed": 3}, {**base, "seed": 3}, {**base, "seed": 4}]
    result = call_tool(orch, tool, calls, [photo(64, 32)])
    assert result.ok
    outs = [observation(result, i)["output"] for i in range(3)]
    assert all(out["condition"] is None for out in outs)
    images = [result.artifacts[out["image"]["handle"]] for out in outs]
    assert [a.shape for a in images] == [[64, 32]] * 3  # height follows the map's aspect
    assert all(a.parents == ["image-1"] for a in images)
    first, again, other = (a.load() for a in images)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert [out["seed"] for out in outs] == [3, 3, 4]


def test_seg_is_computed_with_its_model_and_other_maps_come_from_annotators(orch, tool: str) -> None:
    args = {"prompt": "a room", "image": "image-1", "compute_condition": True}
    calls = [{**args, "condition": "seg"}, {**args, "condition": "depth"}, {**args, "condition": "pose"}]
    result = call_tool(orch, tool, calls, [photo(40, 56)], expect_errors=[1, 2])
    seg_out = observation(result, 0)["output"]
    assert isinstance(seg_out["seed"], int) and seg_out["condition_kind"] == "seg"
    seg = result.artifacts[seg_out["condition"]["handle"]].load()
    assert seg.shape == (56, 40, 3)  # every pixel is an ADE20K class colour
    assert {tuple(c) for c in np.unique(seg.reshape(-1, 3), axis=0)} <= {tuple(c) for c in ADE20K_PALETTE}
    assert result.artifacts[seg_out["image"]["handle"]].shape == [40, 56]
    assert result.artifacts[seg_out["condition"]["handle"]].parents == ["image-1"]
    depth_error, pose_error = observation(result, 1)["error"], observation(result, 2)["error"]
    assert "make the depth map with the depth expert" in depth_error and "condition_image" in depth_error
    assert "make the pose map with the pose expert" in pose_error


def test_bad_inputs_come_back_as_clear_errors(orch, tool: str) -> None:
    calls = [
        {"prompt": "x", "condition": "canny"},
        {"prompt": "x", "condition": "sketch", "condition_image": "image-1"},
        {"prompt": "x", "condition": "canny", "image": "image-1"},
        {"prompt": "x", "condition": "canny", "condition_image": "image-1", "width": 100},
        {
            "prompt": "x",
            "condition": "canny",
            "image": "image-1",
            "compute_condition": True,
            "low_threshold": 200,
        },
        {"prompt": "x", "condition": "canny", "image": "image-1", "condition_image": "image-1"},
        {"prompt": "x", "condition_image": "image-1"},
    ]
    result = call_tool(orch, tool, calls, [photo()], expect_errors=range(len(calls)))
    errors = [observation(result, i).get("error", "") for i in range(len(calls))]
    assert "give condition_image (an existing canny map) or image" in errors[0]
    assert "condition" in errors[1] and "'canny', 'depth', 'seg', 'normal', 'pose'" in errors[1]
    assert "compute_condition: true" in errors[2]
    assert "width 100 is not a multiple of 8; use 96 or 104" in errors[3]
    assert "low_threshold (200) must be smaller than high_threshold (200)" in errors[4]
    assert "not both" in errors[5]
    assert "say what image-1 holds: set 'condition' to one of canny, depth, seg" in errors[6]
    assert not any(h.startswith("image-") and h != "image-1" for h in result.artifacts)


def test_kinds_without_a_controlnet_and_missing_models_are_named(
    models: dict[str, Path], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-sd"
    with pytest.raises(ModelNotAvailable, match="no-such-sd"):
        ControlNet({"model": str(missing), "device": "cpu"}).setup()
    base = {"model": str(models["sd"]), "device": "cpu"}
    options = {"canny": str(models["controlnet"]), "depth": str(tmp_path / "no-such-controlnet")}
    with pytest.raises(ModelNotAvailable, match="no-such-controlnet"):  # ControlNets load in setup()
        ControlNet(base | {"controlnets": options}).setup()
    options["depth"] = str(models["controlnet"])
    expert = ControlNet(base | {"controlnets": options, "num_inference_steps": 1})
    expert.setup()
    given = {"prompt": "x", "condition_image": ImageData("image-1", photo(16, 16))}
    with pytest.raises(
        ExpertError, match=r"no ControlNet is configured for condition 'seg' \(configured: canny, depth\)"
    ):
        expert.run(ControlNet.Input.model_validate({**given, "condition": "seg"}))
    assert expert.run(ControlNet.Input.model_validate({**given, "condition": "depth"})).image.array.size


def test_without_a_seg_model_only_ready_seg_maps_are_taken(models: dict[str, Path]) -> None:
    controlnets = {"seg": str(models["controlnet"])}
    expert = ControlNet({"model": str(models["sd"]), "controlnets": controlnets, "seg_model": None})
    expert.setup()
    source = {"prompt": "x", "condition": "seg", "image": ImageData("image-1", photo(16, 16))}
    with pytest.raises(ExpertError, match=r"cannot compute seg maps \(options.seg_model is not set\)"):
        expert.run(ControlNet.Input.model_validate({**source, "compute_condition": True}))


def test_settings_and_schema() -> None:  # defaults, unknown keys: test_contract.py
    assert tuple(ControlNet.Settings().controlnets) == CONDITION_KINDS  # a checkpoint for every condition
    with pytest.raises(ValidationError):
        ControlNet.Settings.model_validate({"controlnets": {"sketch": "some/controlnet"}})
    schema = ControlNet.argument_schema()
    assert schema["required"] == ["prompt"]  # an annotator's map names its own condition
