"""The condition-map annotators and controlnet end to end on the shared Ray, tiny models throughout:
a scripted ReAct session chaining them by handle, run_plan chaining them by step reference, the maps
stored and drawn as their own kinds, and a map refused where an image belongs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from experts.controlnet import ControlNet
from experts.depth import Depth
from experts.hed import Hed
from experts.mlsd import Mlsd
from experts.normal import Normal
from experts.pose import Pose
from experts.scribble import Scribble
from llm.scripted import ScriptedChatModel
from orchestrator.service.report import report_data
from tests.experts.harness import call_tool, deployed, observation
from tests.experts.tiny_annotators import build_hed_checkpoint, build_mlsd_checkpoint, build_tiny_vitpose
from tests.experts.tiny_detect import build_tiny_detect
from tests.experts.tiny_diffusion import build_tiny_controlnet, build_tiny_depth_estimator, build_tiny_sd

pytestmark = pytest.mark.ray

MAPS = ("depth", "normal", "pose", "hed", "mlsd", "scribble")
BATCHING = {"max_batch_size": 4, "batch_wait_timeout_s": 0.05}


def photo(width: int = 64, height: int = 48) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    array = np.stack([xs * 4 % 256, ys * 5 % 256, np.full_like(xs, 60)], axis=2).astype(np.uint8)
    array[12:36, 20:44] = 230
    return array


def options_for(root: Path) -> dict[str, dict[str, Any]]:
    hed_dir, hed_file = build_hed_checkpoint(root / "hed")
    mlsd_dir, mlsd_file = build_mlsd_checkpoint(root / "mlsd")
    controlnet = str(build_tiny_controlnet(root / "controlnet"))
    cpu = {"device": "cpu"}
    return {
        "depth": cpu | {"model": str(build_tiny_depth_estimator(root / "dpt"))},
        "pose": cpu
        | {
            "model": str(build_tiny_vitpose(root / "vitpose")),
            "detector_model": str(build_tiny_detect(root / "detect")),
            "person_threshold": 0.0,
            "max_people": 2,
        },
        "hed": cpu | {"model": str(hed_dir), "filename": hed_file, "resolution": 32},
        "mlsd": cpu | {"model": str(mlsd_dir), "filename": mlsd_file, "resolution": 64},
        "controlnet": cpu
        | {
            "model": str(build_tiny_sd(root / "sd")),
            "controlnets": dict.fromkeys(MAPS, controlnet),
            "seg_model": None,
            "num_inference_steps": 2,
        },
    }


@pytest.fixture(scope="module")
def tools(orch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    options = options_for(tmp_path_factory.mktemp("annotators"))
    with ExitStack() as stack:
        for cls in (Depth, Pose, Hed, Mlsd):
            stack.enter_context(
                deployed(orch, cls, options=options[cls.name], batching=BATCHING, timeout_s=120)
            )
        stack.enter_context(deployed(orch, Normal))
        stack.enter_context(deployed(orch, Scribble))
        stack.enter_context(deployed(orch, ControlNet, options=options["controlnet"], timeout_s=180))
        yield


def turn(tool: str, arguments: dict[str, Any]) -> str:
    return f"Thought: next {tool}\nAction: {tool}\nAction Input: {json.dumps(arguments)}"


def test_a_react_session_chains_the_annotators_by_handle(orch, tools) -> None:
    session = f"annotators-{uuid.uuid4().hex[:8]}"
    first = ScriptedChatModel(
        [
            turn("depth", {"image": "image-1"}),
            turn("normal", {"depth": "depth-1"}),
            turn("hed", {"image": "image-1"}),
            turn("scribble", {"edges": "hed-1", "threshold": 0.3}),
            "Thought: maps made\nFinal Answer: normal-1 and scribble-1",
        ]
    )
    result = orch.run("map the scene", images=[photo()], session=session, chat_model=first)
    assert result.ok, result.failure
    second = ScriptedChatModel(
        [
            turn("mlsd", {"image": "image-1"}),
            turn("pose", {"image": "image-1"}),
            turn("controlnet", {"prompt": "a dancer", "condition_image": "pose-1", "seed": 5}),
            turn("crop", {"image": "depth-1", "box": [0, 0, 8, 8]}),
            "Thought: done\nFinal Answer: image-2",
        ]
    )
    later = orch.run("now the lines and the person, redrawn", session=session, chat_model=second)
    assert later.ok, later.failure
    steps = [s for s in [*result.steps, *later.steps] if s.tool]
    result = later  # its artifact table holds the whole session
    assert [s.error for s in steps[:7]] == [None] * 7
    for kind in MAPS:
        info = result.artifacts[f"{kind}-1"]
        assert info.kind == kind and info.shape == [64, 48]
        assert info.load().shape == (48, 64, 3)  # stored as an RGB PNG of its kind
    assert result.artifacts["normal-1"].parents == ["depth-1"]
    assert result.artifacts["scribble-1"].parents == ["hed-1"]
    assert result.artifacts["boxes-1"].producer == "pose" and result.artifacts["boxes-1"].parents == [
        "image-1"
    ]
    pose_out = json.loads(steps[5].observation)["output"]
    assert pose_out["count"] == 2 and pose_out["people"]["handle"] == "boxes-1"
    assert all(item["label"] == "person" and "keypoints" in item for item in pose_out["people"]["items"])
    generated = json.loads(steps[6].observation)["output"]
    assert generated["condition_kind"] == "pose" and generated["condition"] is None  # the map's kind chose it
    assert result.artifacts["image-2"].parents == ["pose-1"]
    # a map is not an image: crop refuses it, saying what it is
    assert "'depth-1' is a depth handle but a image handle like 'image-1' is needed" in steps[7].error
    report = report_data(result)["artifacts"]
    assert all(report[f"{kind}-1"]["url"].startswith("data:image/png;base64,") for kind in MAPS)


def test_run_plan_chains_every_condition_into_controlnet(orch, tools) -> None:
    plan = [
        {"id": 0, "tool": "depth", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "normal", "arguments": {"depth": "<step-0>"}},
        {"id": 2, "tool": "hed", "arguments": {"image": "image-1"}},
        {"id": 3, "tool": "scribble", "arguments": {"edges": "<step-2>", "threshold": 0.3}},
        {"id": 4, "tool": "mlsd", "arguments": {"image": "image-1"}},
        {"id": 5, "tool": "pose", "arguments": {"image": "image-1"}},
    ]
    plan += [
        {
            "id": 10 + i,
            "tool": "controlnet",
            "arguments": {"prompt": "a house", "condition_image": f"<step-{i}>"},
        }
        for i in range(6)
    ]
    result = orch.run_plan(plan, images=[photo()])
    assert result.ok, result.failure
    steps = {s.tool + str(i): s for i, s in enumerate(result.steps) if s.tool}
    assert not [s.error for s in steps.values() if s.error]
    generated = [json.loads(s.observation)["output"] for s in result.steps if s.tool == "controlnet"]
    assert sorted(out["condition_kind"] for out in generated) == sorted(MAPS)
    for out in generated:  # each image follows the map of its kind
        image = result.artifacts[out["image"]["handle"]]
        assert image.parents == [f"{out['condition_kind']}-1"] and image.shape == [64, 48]
    assert result.artifacts["normal-1"].parents == ["depth-1"]


def test_concurrent_calls_are_batched_on_one_replica(orch, tools) -> None:
    images = [photo(64, 48), photo(48, 64), photo(64, 48)]
    calls = [{"image": f"image-{i}"} for i in (1, 2, 3)]
    for tool in ("depth", "hed", "mlsd"):
        result = call_tool(orch, tool, calls, images)
        shapes = [result.artifacts[f"{tool}-{i}"].shape for i in (1, 2, 3)]
        assert sorted(shapes) == sorted([[64, 48], [48, 64], [64, 48]])
    result = call_tool(orch, "pose", calls, images)
    assert [observation(result, i)["output"]["count"] for i in range(3)] == [2, 2, 2]
