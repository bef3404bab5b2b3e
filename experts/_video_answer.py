"""What the video MLLM experts share: their settings, frame sampling, and one batched Qwen2-VL generate.

``video_caption`` and ``video_qa`` each say only how they check an input and which prompt they ask;
:func:`answer_batch` does the rest. The frames are sampled evenly over the clip and given to the
model as one video (see :mod:`experts._mllm_video`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, Field

from experts._loading import DeviceSettings
from experts._video import VideoData
from experts.base import ExpertError
from experts.mllm import MllmSettings
from experts.video_frames import uniform_indices
from loading import pick_device, pick_dtype

__all__ = ["VideoMllmSettings", "VideoRequest", "answer_batch", "load_video_mllm", "sample"]


class VideoMllmSettings(DeviceSettings):
    """Options of the video MLLM experts (unknown keys are rejected). ``model`` must be a Qwen2-VL
    checkpoint: it is the family that reads video natively."""

    model: str = Field(
        default=MllmSettings.model_fields["model"].default,
        description="hub id or local directory of a Qwen2-VL checkpoint",
    )
    num_frames: int = Field(default=8, ge=1, le=256, description="frames sampled when the call gives none")
    max_frames: int = Field(default=32, ge=1, le=1024, description="most frames one call may sample")
    max_frame_pixels: int = Field(
        default=448 * 448, ge=28 * 28, description="each frame is resized to at most this many pixels"
    )
    max_new_tokens: int = Field(default=128, ge=1, le=512, description="longest answer in tokens")


@dataclass
class VideoRequest:
    """One valid call: the sampled frames (frames, H, W, 3), their times, the prompt, its token limit."""

    frames: np.ndarray
    times: list[float]
    prompt: str
    max_new_tokens: int


InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)


def load_video_mllm(settings: VideoMllmSettings, expert: str) -> Any:
    """The Qwen2-VL of ``settings.model``, loaded for video (what ``setup()`` keeps)."""
    from experts._mllm_video import VideoMllm

    device = pick_device(settings.device)
    return VideoMllm(
        settings.model,
        expert=expert,
        device=device,
        dtype=pick_dtype(settings.dtype, device),
        max_frame_pixels=settings.max_frame_pixels,
    )


def sample(
    video: VideoData, count: int | None, prompt: str, max_new_tokens: int | None, settings: VideoMllmSettings
) -> VideoRequest:
    """A request for ``prompt`` about ``count`` frames (default ``num_frames``) spread over ``video``."""
    count = count or settings.num_frames
    if count > settings.max_frames:
        raise ExpertError(f"frames {count} is over the limit of {settings.max_frames} per call")
    indices = uniform_indices(video.info.frame_count, min(count, video.info.frame_count))
    frames = video.frames(indices)
    return VideoRequest(
        np.stack([f.array for f in frames]),
        [round(f.time, 3) for f in frames],
        prompt,
        max_new_tokens or settings.max_new_tokens,
    )


def answer_batch(
    model: Any,
    batch: list[InputT],
    request: Callable[[InputT], VideoRequest],
    output: Callable[[InputT, VideoRequest, str], OutputT],
) -> list[OutputT | ExpertError]:
    """One batched ``generate`` for every valid input; a bad input gets its own :class:`ExpertError`.

    ``request`` checks one input and builds what the model is shown; ``output`` makes the Output of
    one call from the model's answer.
    """
    results: list[Any] = [None] * len(batch)
    requests: dict[int, VideoRequest] = {}
    for i, item in enumerate(batch):
        try:
            requests[i] = request(item)
        except ExpertError as err:
            results[i] = err
    if requests:
        texts = model.answer(
            [r.frames for r in requests.values()],
            [r.prompt for r in requests.values()],
            [r.max_new_tokens for r in requests.values()],
        )
        for (i, made), text in zip(requests.items(), texts, strict=True):
            results[i] = output(batch[i], made, text)
    return results
