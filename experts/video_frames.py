"""Video frames: sample frames of a video as images, evenly, at given times, or where the scene changes."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts._video import VideoData, VideoRef
from experts._video_io import Frame
from experts.base import Expert, ExpertError, NewImage

Mode = Literal["uniform", "times", "scenes"]


class VideoFramesInput(BaseModel):
    video: VideoRef = Field(description="the video to take frames from")
    mode: Mode = Field(
        default="uniform",
        description="'uniform': `count` frames spread evenly over the video; 'times': the frames on screen "
        "at `times`; 'scenes': the first frame of each scene (a cut or a sudden change), at most `count`",
    )
    count: int | None = Field(
        default=None,
        ge=1,
        description="uniform: how many frames (default $default_count); scenes: at most this many scenes, "
        "the strongest changes first (default $max_frames); at most $max_frames",
    )
    times: list[float] | None = Field(
        default=None, description="times only: seconds from the start, e.g. [0, 1.5, 3]; at most $max_frames"
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="scenes only: how different (0-1, colour histogram distance) a frame must be from the "
        "one before it to start a scene (default $scene_threshold)",
    )


class SampledFrame(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="the frame as an image artifact")
    time: float = Field(description="its time in seconds from the start of the video")
    index: int = Field(description="its frame number (0-based)")


class VideoFramesOutput(BaseModel):
    frames: list[SampledFrame] = Field(description="the sampled frames in time order")
    video: dict[str, Any] = Field(description="the video: size, frames, duration_s, fps")
    scores: list[float] | None = Field(
        default=None, description="scenes: for each returned frame, how much it differs from the frame before"
    )


class VideoFramesSettings(Expert.Settings):
    default_count: int = Field(
        default=8, ge=1, le=256, description="uniform: frames sampled when none is given"
    )
    max_frames: int = Field(default=64, ge=1, le=1024, description="most frames one call returns")
    scene_threshold: float = Field(
        default=0.35, gt=0, lt=1, description="scenes: histogram distance that starts a new scene"
    )
    scene_width: int = Field(
        default=96, ge=16, le=640, description="scenes: frames are compared at this width (pixels)"
    )


def uniform_indices(frame_count: int, count: int) -> list[int]:
    """``count`` frame indices at the middles of ``count`` equal stretches of the video."""
    return [int((k + 0.5) * frame_count / count) for k in range(count)]


def histogram(pixels: np.ndarray, bins: int = 16) -> np.ndarray:
    """Per-channel colour histogram of an RGB array, each channel summing to 1."""
    flat = pixels.reshape(-1, 3)
    parts = [np.bincount(flat[:, c] // (256 // bins), minlength=bins) for c in range(3)]
    return np.concatenate(parts).astype(np.float64) / len(flat)


class VideoFrames(Expert[VideoFramesInput, VideoFramesOutput]):
    name = "video_frames"
    extra = "video"
    description = (
        "Take frames out of a video as images (each with its time in seconds and frame number), to look at "
        "them with the image experts. mode 'uniform': `count` frames spread evenly (default $default_count); "
        "'times': the frames at the given `times` (seconds); 'scenes': the first frame of each scene, where "
        "the picture changes suddenly. Returns `frames` [{image: handle, time, index}] in time order and "
        "the video's size, frame count, duration and fps."
    )
    Input = VideoFramesInput
    Output = VideoFramesOutput
    Settings = VideoFramesSettings

    settings: VideoFramesSettings

    def run(self, inputs: VideoFramesInput) -> VideoFramesOutput:
        video = inputs.video
        self._check_arguments(inputs)
        scores: list[float] | None = None
        if inputs.mode == "scenes":
            indices, scores = self._scenes(video, inputs)
        elif inputs.mode == "times":
            indices = [self._index_at(video, t, i) for i, t in enumerate(inputs.times or [])]
        else:
            count = inputs.count or self.settings.default_count
            if count > video.info.frame_count:
                raise ExpertError(
                    f"count {count} is more than the {video.info.frame_count} frames of {video.handle}; "
                    f"ask for at most {video.info.frame_count}"
                )
            indices = uniform_indices(video.info.frame_count, count)
        frames = video.frames(indices)
        return VideoFramesOutput(
            frames=[_sampled(frame) for frame in frames], video=video.info.summary(), scores=scores
        )

    def _check_arguments(self, inputs: VideoFramesInput) -> None:
        limit = self.settings.max_frames
        if inputs.mode == "times":
            if not inputs.times:
                raise ExpertError("mode 'times' needs `times`: seconds from the start, e.g. [0, 2.5]")
            if inputs.count is not None:
                raise ExpertError("mode 'times' takes `times`, not `count`; use mode 'uniform' for a count")
            if len(inputs.times) > limit:
                raise ExpertError(f"{len(inputs.times)} times asked for; give at most {limit}")
        elif inputs.times is not None:
            raise ExpertError(f"`times` is only used in mode 'times', not '{inputs.mode}'")
        if inputs.threshold is not None and inputs.mode != "scenes":
            raise ExpertError(f"`threshold` is only used in mode 'scenes', not '{inputs.mode}'")
        if inputs.count is not None and inputs.count > limit:
            raise ExpertError(f"count {inputs.count} is over the limit of {limit} frames per call")

    @staticmethod
    def _index_at(video: VideoData, seconds: float, position: int) -> int:
        duration = video.info.duration
        if not 0 <= seconds < duration:
            raise ExpertError(
                f"times[{position}] = {seconds:g} s lies outside {video.handle}; give times t with "
                f"0 <= t < {duration:g} (its duration in seconds)"
            )
        return video.index_at(seconds)

    def _scenes(self, video: VideoData, inputs: VideoFramesInput) -> tuple[list[int], list[float]]:
        """The first frame of each scene: frames whose colour histogram jumps away from the frame before."""
        threshold = inputs.threshold or self.settings.scene_threshold
        info = video.info
        width = min(self.settings.scene_width, info.width)
        height = max(1, round(info.height * width / info.width))
        changes: list[tuple[float, int]] = [(1.0, 0)]  # the first frame starts the first scene
        previous = None
        for frame in video.file.iter_frames(size=(width, height)):
            current = histogram(frame.array)
            if previous is not None:
                distance = 0.5 * float(np.abs(current - previous).sum()) / 3
                if distance >= threshold:
                    changes.append((distance, frame.index))
            previous = current
        keep = sorted(changes, key=lambda c: -c[0])[: inputs.count or self.settings.max_frames]
        keep.sort(key=lambda c: c[1])
        return [index for _, index in keep], [round(score, 4) for score, _ in keep]


def _sampled(frame: Frame) -> SampledFrame:
    return SampledFrame(image=NewImage(frame.array), time=round(frame.time, 3), index=frame.index)
