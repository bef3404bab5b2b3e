"""video_frames: uniform, timed and scene sampling; through the ReAct loop; a plan mapping over its frames."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from experts._video import VideoData
from experts.base import ExpertError
from experts.video_frames import VideoFrames, VideoFramesInput
from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed
from tests.support.videos import encode_video

pytest.importorskip("av")


@pytest.fixture(scope="module")
def clip() -> bytes:
    """30 frames at 10 fps: red background for frames 0-14, blue from 15 on, a square moving right."""
    return encode_video(30)


@pytest.fixture(scope="module")
def expert() -> VideoFrames:
    frames = VideoFrames()
    frames.setup()
    return frames


def sample(expert: VideoFrames, clip: bytes, **arguments) -> dict:
    output = expert.run(VideoFramesInput(video=VideoData("video-1", clip), **arguments))
    return {
        "indices": [f.index for f in output.frames],
        "times": [f.time for f in output.frames],
        "blue": [bool(f.image.array[5, 5, 2] > 150) for f in output.frames],
        "video": output.video,
        "scores": output.scores,
    }


def test_uniform_frames_are_spread_over_the_clip(expert, clip) -> None:
    found = sample(expert, clip, count=3)
    assert found["indices"] == [5, 15, 25] and found["times"] == pytest.approx([0.5, 1.5, 2.5])
    assert found["blue"] == [False, True, True]
    assert found["video"] == {"size": [96, 64], "frames": 30, "duration_s": 3.0, "fps": 10.0}
    assert len(sample(expert, clip)["indices"]) == expert.settings.default_count


def test_frames_at_given_times_are_those_on_screen(expert, clip) -> None:
    found = sample(expert, clip, mode="times", times=[2.95, 0, 1.49, 1.5])
    assert found["indices"] == [29, 0, 14, 15] and found["blue"] == [True, False, False, True]


def test_scenes_start_where_the_picture_changes(expert, clip) -> None:
    found = sample(expert, clip, mode="scenes")
    assert found["indices"] == [0, 15] and found["scores"][0] == 1.0 and found["scores"][1] > 0.5
    assert sample(expert, clip, mode="scenes", count=1)["indices"] == [0]
    assert sample(expert, clip, mode="scenes", threshold=0.99)["indices"] == [0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"mode": "times", "times": [3.0]},
            r"times\[0\] = 3 s lies outside video-1; give times t with 0 <= t < 3",
        ),
        ({"mode": "times"}, "mode 'times' needs `times`"),
        ({"mode": "times", "times": [1], "count": 2}, "takes `times`, not `count`"),
        ({"times": [1.0]}, "`times` is only used in mode 'times'"),
        ({"threshold": 0.5}, "`threshold` is only used in mode 'scenes'"),
        ({"count": 31}, "count 31 is more than the 30 frames of video-1; ask for at most 30"),
        ({"count": 65}, "over the limit of 64 frames per call"),
    ],
)
def test_wrong_requests_say_what_to_do(expert, clip, arguments: dict, message: str) -> None:
    with pytest.raises(ExpertError, match=message):
        sample(expert, clip, **arguments)


# --- through the orchestrator --------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(orch):
    with deployed(orch, "video_frames") as name:
        yield name


def _observations(messages: list[dict]) -> list[dict]:
    return [
        json.loads(line.partition(": ")[2])
        for line in messages[-1]["content"].splitlines()
        if line.startswith("Observation")
    ]


@pytest.mark.ray
def test_the_react_loop_takes_frames_and_crops_each(orch, served, clip) -> None:
    def crop_each(messages: list[dict]) -> str:
        frames = _observations(messages)[0]["output"]["frames"]
        calls = [{"image": f["image"]["handle"], "box": [0, 0, 48, 32]} for f in frames]
        actions = [f"Action: crop\nAction Input: {json.dumps(call)}" for call in calls]
        return "Thought: crop every frame\n" + "\n".join(actions)

    script = ScriptedChatModel(
        [
            "Thought: wrong kind first\nAction: crop\n"
            'Action Input: {"image": "video-1", "box": [0, 0, 4, 4]}',
            'Thought: frames\nAction: video_frames\nAction Input: {"video": "video-1", "count": 3}',
            crop_each,
            "Thought: done\nFinal Answer: cropped",
        ]
    )
    result = orch.run("crop the frames", videos=[clip], chat_model=script)
    assert result.ok, result.failure
    steps = [s for s in result.steps if s.tool]
    assert re.search(r"'video-1' is a video handle but an? image handle like 'image-1'", steps[0].error)
    assert "- video-1: video 96x64, 30 frames, 3 s, 10 fps, input video" in script.seen[0][-1]["content"]
    video = result.artifacts["video-1"]
    assert video.kind == "video" and video.shape == [96, 64, 30, 3000] and video.load() == clip
    frames = [result.artifacts[f"image-{i}"] for i in (1, 2, 3)]
    assert all(
        f.producer == "video_frames" and f.parents == ["video-1"] and f.shape == [96, 64] for f in frames
    )
    assert np.asarray(frames[1].load())[5, 5, 2] > 150  # frame 15: the blue scene
    crops = [result.artifacts[f"image-{i}"] for i in (4, 5, 6)]
    assert [c.parents for c in crops] == [["image-1"], ["image-2"], ["image-3"]]
    assert all(c.shape == [48, 32] for c in crops)


@pytest.mark.ray
def test_a_plan_maps_an_image_expert_over_the_frames(orch, served, clip) -> None:
    plan = [
        {
            "id": 0,
            "tool": "video_frames",
            "arguments": {"video": "video-1", "mode": "times", "times": [0, 1, 2]},
        },
        {
            "id": 1,
            "tool": "crop",
            "arguments": {"image": "<step-0>", "box": [10, 10, 30, 30]},
            "map": "image",
        },
        {"id": 2, "tool": "noop", "arguments": {"payload": "third box: <step-1>.items[2].box"}},
        {"id": 3, "tool": "resize", "arguments": {"image": "<step-1>", "width": 5}, "map": "image"},
    ]
    result = orch.run_plan(plan, videos=[clip])
    assert result.ok, result.failure
    tools = [s.tool for s in result.steps if s.tool]
    assert tools == ["video_frames", "crop", "crop", "crop", "noop", "resize", "resize", "resize"]
    crops = [s for s in result.steps if s.tool == "crop"]
    assert [s.arguments["image"] for s in crops] == ["image-1", "image-2", "image-3"]
    assert json.loads(next(s for s in result.steps if s.tool == "noop").observation)["output"] == {
        "echo": "third box: [10, 10, 30, 30]"
    }
    resized = [result.artifacts[h] for s in result.steps if s.tool == "resize" for h in s.new_handles]
    assert [r.parents for r in resized] == [["image-4"], ["image-5"], ["image-6"]]
    assert all(r.shape == [5, 5] for r in resized)
    assert "step 1 crop -> image-4, image-5, image-6" in result.answer
    # the trace says which plan step (and item) each call ran, and the plan links every call
    assert [(s.plan_step, s.map_index) for s in crops] == [(1, 0), (1, 1), (1, 2)]
    nodes = {node.id: node for node in result.plans[0]}
    assert nodes[1].map == ["image"] and nodes[1].steps == [s.index for s in crops]
    assert nodes[1].step == crops[0].index and nodes[2].steps == [nodes[2].step]


@pytest.mark.ray
def test_a_map_step_fails_when_an_item_fails(orch, served, clip) -> None:
    plan = [
        {"id": 0, "tool": "video_frames", "arguments": {"video": "video-1", "count": 2}},
        {
            "id": 1,
            "tool": "crop",
            "arguments": {"image": "<step-0>", "box": [[0, 0, 5, 5], [0, 0, 500, 5]]},
            "map": ["image", "box"],
        },
    ]
    result = orch.run_plan(plan, videos=[clip])
    assert result.status == "failed"
    assert "step 1 failed: item 1 failed: box [0, 0, 500, 5] extends past the 96x64 image" in result.failure
