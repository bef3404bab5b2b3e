"""video_classify on a tiny random CLIP: frame scores averaged over time; batching, errors, serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experts._video import VideoData
from experts.base import ExpertError, ImageData
from experts.clip import Clip, ClipInput
from experts.video_classify import VideoClassify, VideoClassifyInput
from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed, observation
from tests.experts.tiny_clip import build_tiny_clip
from tests.support.videos import encode_video

pytest.importorskip("av")
LABELS = ["a red screen", "a blue screen", "a white square"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def expert(tiny_dir: Path) -> VideoClassify:
    classify = VideoClassify({"model": str(tiny_dir), "device": "cpu"})
    classify.setup()
    return classify


@pytest.fixture(scope="module")
def clip() -> bytes:
    return encode_video(30)


def test_scores_are_clip_frame_scores_averaged_over_time(expert, tiny_dir, clip) -> None:
    video = VideoData("video-1", clip)
    out = expert.run(VideoClassifyInput(video=video, labels=LABELS, frames=4))
    assert [t["index"] for t in out.timeline] == [3, 11, 18, 26]
    assert [t["time"] for t in out.timeline] == pytest.approx([0.3, 1.1, 1.8, 2.6])
    image_clip = Clip({"model": str(tiny_dir), "device": "cpu"})
    image_clip.setup()
    per_frame = [
        image_clip.run(ClipInput(image=ImageData("image-1", f.array), labels=LABELS)).predictions[0]
        for f in video.frames([3, 11, 18, 26])
    ]
    for label in LABELS:
        mean = np.mean([p["probabilities"][label] for p in per_frame])
        assert out.probabilities[label] == pytest.approx(mean, abs=2e-4)
    assert [t["label"] for t in out.timeline] == [p["label"] for p in per_frame]
    assert list(out.probabilities) == sorted(out.probabilities, key=lambda k: -out.probabilities[k])
    assert out.label == next(iter(out.probabilities)) and out.score == out.probabilities[out.label]
    assert sum(out.probabilities.values()) == pytest.approx(1.0, abs=1e-3)


def test_a_batch_gives_what_each_call_gives_alone(expert, clip) -> None:
    short = encode_video(5, fmt="gif")
    batch = [
        VideoClassifyInput(video=VideoData("video-1", clip), labels=LABELS, frames=3),
        VideoClassifyInput(video=VideoData("video-2", short), labels=["x", " y "], frames=8),
        VideoClassifyInput(video=VideoData("video-1", clip), labels=["a", "a"]),
        VideoClassifyInput(video=VideoData("video-1", clip), labels=LABELS, frames=33),
    ]
    results = expert.run_batch(batch)
    assert results[:2] == [expert.run(batch[0]), expert.run(batch[1])]
    assert len(results[1].timeline) == 5 and set(results[1].probabilities) == {"x", "y"}  # all 5 frames
    assert isinstance(results[2], ExpertError) and "must be one or more different" in str(results[2])
    assert isinstance(results[3], ExpertError) and "over the limit of 32" in str(results[3])


@pytest.mark.ray
def test_served_with_batching_through_the_loop(orch, tiny_dir, clip) -> None:
    options = {"model": str(tiny_dir), "device": "cpu"}
    batching = {"max_batch_size": 4, "batch_wait_timeout_s": 0.05}
    with deployed(orch, VideoClassify, options=options, batching=batching) as name:
        call = f'Action: {name}\nAction Input: {{"video": "video-1", "labels": ["cat", "dog"], "frames": 2}}'
        script = ScriptedChatModel(
            [f"Thought: both\n{call}\n{call.replace('video-1', 'video-2')}", "Final Answer: ok"]
        )
        result = orch.run("what is it?", videos=[clip, encode_video(4, fmt="webm")], chat_model=script)
    assert result.ok, result.failure
    first, second = observation(result, 0)["output"], observation(result, 1)["output"]
    assert [t["index"] for t in first["timeline"]] == [7, 22] and len(second["timeline"]) == 2
    assert set(first["probabilities"]) == {"cat", "dog"}
