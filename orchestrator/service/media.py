"""What an upload's first bytes say about it, and the full check of an uploaded video.

An image's header (PIL) or a video's container header (PyAV, when the ``[video]`` extra is installed)
states the frame size, and a video's header often its duration and frame count, long before the whole
file has arrived: :mod:`orchestrator.service.uploads` checks them while the body streams in. The full
check of a video (:func:`check_video`: demuxing every packet, decoding the first frame) runs once the
upload is complete, off the event loop. Over a cap is 413; not a readable image or video is 415.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from experts._video_io import VideoOverLimit, VideoUnreadable, probe
from extensions.extras import MissingExtra
from orchestrator.config import ReactorConfig
from orchestrator.service.limits import ApiError

__all__ = [
    "DEFAULT_VIDEO_CAPS",
    "VideoCaps",
    "VideoHeader",
    "check_header",
    "check_video",
    "image_size",
    "video_header",
    "video_type",
]

_LIMIT_TEXT = {  # VideoOverLimit.what -> (setting, how the value reads, what to do)
    "seconds": ("max_video_seconds", "{value:.1f} s long", "cut it shorter"),
    "frames": ("max_video_frames", "{value:.0f} frames long", "cut it shorter"),
    "pixels": ("max_video_pixels", "{value:.0f} pixels a frame", "downscale it"),
}


@dataclass(frozen=True)
class VideoCaps:
    """The config's limits on one input video (the SDK's ``max_video_*`` settings)."""

    max_bytes: int
    max_seconds: float
    max_frames: int
    max_pixels: int

    @classmethod
    def of(cls, config: ReactorConfig) -> VideoCaps:
        """The caps a config sets."""
        return cls(
            config.max_video_bytes, config.max_video_seconds, config.max_video_frames, config.max_video_pixels
        )


_CAPS = ("bytes", "seconds", "frames", "pixels")
DEFAULT_VIDEO_CAPS = VideoCaps(*(ReactorConfig.model_fields[f"max_video_{cap}"].default for cap in _CAPS))
"""The SDK's default caps."""


@dataclass(frozen=True)
class VideoHeader:
    """What a video's container header states: frame size, and duration and frame count when known."""

    width: int
    height: int
    seconds: float | None
    frames: int | None


def image_size(data: bytes) -> tuple[int, int] | None:
    """The width and height an image's header declares, or None while the header is incomplete."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Image.DecompressionBombError as err:
        raise ApiError(413, f"an uploaded image is too large: {err}") from None
    except Exception:  # truncated header, or not an image (decided at the part's end)
        return None


def video_header(data: bytes) -> VideoHeader | None:
    """The header of a (possibly partial) video file, or None while it cannot be read yet.

    An MP4 whose index comes last, or a format PyAV is missing for, says nothing here; the full check
    at the end of the upload decides.
    """
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            if width <= 0 or height <= 0:
                return None
            seconds = None
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / 1_000_000
            return VideoHeader(width, height, seconds, int(stream.frames) or None)
    except Exception:  # cut short, not (yet) a container FFmpeg knows: wait for more bytes
        return None


def over_limit(what: str, name: str, value: float, limit: float) -> ApiError:
    """413 for the video called ``name`` over one cap, naming the setting and what to do."""
    setting, shown, fix = _LIMIT_TEXT[what]
    return ApiError(
        413,
        f"{name} is {shown.format(value=value)}, over the limit of {limit:g} ({setting}); "
        f"{fix} or ask the operator to raise the limit",
    )


def check_header(header: VideoHeader, name: str, caps: VideoCaps) -> None:
    """Raise 413 when what the header states is already over a cap."""
    if header.width * header.height > caps.max_pixels:
        raise over_limit("pixels", name, header.width * header.height, caps.max_pixels)
    if header.seconds is not None and header.seconds > caps.max_seconds * 1.01:
        raise over_limit("seconds", name, header.seconds, caps.max_seconds)
    if header.frames is not None and header.frames > caps.max_frames:
        raise over_limit("frames", name, header.frames, caps.max_frames)


def check_video(data: bytes, name: str, caps: VideoCaps) -> None:
    """The whole upload's check (every packet, the first frame): 413 over a cap, 415 if unreadable."""
    try:
        probe(data, max_seconds=caps.max_seconds, max_frames=caps.max_frames, max_pixels=caps.max_pixels)
    except MissingExtra as err:
        raise ApiError(415, f"this service cannot read videos: {err}") from None
    except VideoOverLimit as err:
        raise over_limit(err.what, name, err.value, err.limit) from None
    except VideoUnreadable as err:
        raise ApiError(415, f"{name} cannot be used as a video: {err}") from None


def video_type(data: bytes) -> str:
    """The media type of a video file from its first bytes (``application/octet-stream`` if unknown)."""
    head = data[:64]
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return "application/octet-stream"
