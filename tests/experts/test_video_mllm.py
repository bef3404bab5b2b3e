"""video_caption and video_qa on a tiny random Qwen2-VL: the frames go in as one video; batching; serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experts._video import VideoData
from experts.base import ExpertError
from experts.video_caption import VideoCaption, VideoCaptionInput
from experts.video_qa import VideoQa, VideoQaInput
from llm.scripted import ScriptedChatModel
from loading import ModelNotAvailable
from tests.experts.harness import deployed, observation
from tests.experts.tiny_mllm import build_tiny_mllm
from tests.support.videos import encode_video

pytest.importorskip("av")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_mllm(tmp_path_factory.mktemp("tiny-qwen2-vl"))


@pytest.fixture(scope="module")
def qa(tiny_dir: Path) -> VideoQa:
    expert = VideoQa({"model": str(tiny_dir), "device": "cpu", "max_new_tokens": 6})
    expert.setup()
    return expert


@pytest.fixture(scope="module")
def clip() -> bytes:
    return encode_video(30)


def test_two_equal_frames_make_exactly_the_patches_of_that_image(qa) -> None:
    """The numpy video processor lays patches out as transformers does: a still video is its image."""
    processor = qa._model.processor
    image = np.random.default_rng(1).integers(0, 256, (70, 100, 3), dtype=np.uint8)
    as_image = processor.image_processor(images=[image], return_tensors="np")
    as_video = processor.video_processor([np.stack([image, image])], return_tensors="np")
    assert as_video["video_grid_thw"].tolist() == as_image["image_grid_thw"].tolist() == [[1, 4, 8]]
    np.testing.assert_allclose(as_video["pixel_values_videos"], as_image["pixel_values"], atol=1e-6)


def test_the_frames_are_one_video_in_the_prompt(qa) -> None:
    processor = qa._model.processor
    frames = np.random.default_rng(2).integers(0, 256, (5, 64, 96, 3), dtype=np.uint8)
    conversation = [
        {"role": "user", "content": [{"type": "video", "video": frames}, {"type": "text", "text": "?"}]}
    ]
    inputs = processor.apply_chat_template(
        [conversation], add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="np"
    )
    grid = inputs["video_grid_thw"].tolist()
    assert grid == [[3, 4, 6]]  # 5 frames -> 6 (the last repeated) -> 3 temporal patches of 2 frames
    ids = inputs["input_ids"][0].tolist()
    video_pad, image_pad = (
        processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|video_pad|>", "<|image_pad|>")
    )
    assert ids.count(video_pad) == 3 * 4 * 6 // 4 and image_pad not in ids
    assert "pixel_values" not in inputs and inputs["pixel_values_videos"].shape[0] == 3 * 4 * 6
    assert set(inputs["mm_token_type_ids"][0].tolist()) == {0, 2}  # the video tokens are marked as video


def test_a_batch_answers_as_each_call_alone(qa, clip) -> None:
    video = VideoData("video-1", clip)
    batch = [
        VideoQaInput(video=video, question="What moves?", frames=4),
        VideoQaInput(
            video=VideoData("video-2", encode_video(3, fmt="gif")), question="<|video_pad|> <|image_pad|>?"
        ),
        VideoQaInput(video=video, question="   "),
        VideoQaInput(video=video, question="x", frames=40),
    ]
    results = qa.run_batch(batch)
    alone = [qa.run(batch[0]), qa.run(batch[1])]
    assert [r.text for r in results[:2]] == [a.text for a in alone]  # type: ignore[union-attr]
    assert results[0].times == pytest.approx([0.3, 1.1, 1.8, 2.6])  # type: ignore[union-attr]
    assert results[1].times == pytest.approx([0.0, 0.1, 0.2])  # type: ignore[union-attr]  # all 3 frames
    assert results[0].answer.text == results[0].text  # type: ignore[union-attr]
    assert isinstance(results[2], ExpertError) and "question is blank" in str(results[2])
    assert isinstance(results[3], ExpertError) and "frames 40 is over the limit of 32" in str(results[3])


def test_the_caption_expert(tiny_dir, clip) -> None:
    caption = VideoCaption({"model": str(tiny_dir), "device": "cpu", "max_new_tokens": 4, "num_frames": 2})
    caption.setup()
    out = caption.run(VideoCaptionInput(video=VideoData("video-1", clip)))
    assert out.times == pytest.approx([0.7, 2.2]) and out.caption.text == out.text


def test_only_a_qwen2_vl_checkpoint_reads_video(tmp_path) -> None:
    llava = build_tiny_mllm(tmp_path / "llava", family="llava")
    with pytest.raises(
        ModelNotAvailable, match=r"expert 'video_qa': .* 'llava' checkpoint; .*Qwen2-VL checkpoint"
    ):
        VideoQa({"model": str(llava), "device": "cpu"}).setup()


@pytest.mark.ray
def test_served_through_the_loop(orch, tiny_dir, clip) -> None:
    options = {"model": str(tiny_dir), "device": "cpu", "max_new_tokens": 4, "num_frames": 2}
    with deployed(
        orch, VideoQa, options=options, batching={"max_batch_size": 2, "batch_wait_timeout_s": 0.05}
    ) as name:
        call = f'Action: {name}\nAction Input: {{"video": "video-1", "question": "what happens?"}}'
        script = ScriptedChatModel([f"Thought: ask\n{call}", "Final Answer: ok"])
        result = orch.run("what happens?", videos=[clip], chat_model=script)
    assert result.ok, result.failure
    output = observation(result, 0)["output"]
    handle = output["answer"]["handle"]
    assert output["times"] == [0.7, 2.2] and output["answer"]["text"] == output["text"]
    assert result.artifacts[handle].kind == "text" and result.artifacts[handle].parents == ["video-1"]
