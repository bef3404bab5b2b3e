"""Reading video files with PyAV (FFmpeg): what a file holds, and its frames decoded on demand.

Everything works on the encoded bytes of a file (mp4, webm, avi, mov, mkv, animated GIF …), so a
video travels as one object (the file's content) and only the frames an expert asks for are
decoded, in the replica that needs them. :func:`probe` checks a file without decoding it all:
it demultiplexes every packet of the video stream (counting the frames and reading their
timestamps) and decodes the first frame; a file that is empty, is not a video, is a still image,
or is cut short raises :class:`VideoUnreadable` saying which.

PyAV comes with the ``[video]`` extra and is imported only when a video is read.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from extensions.extras import MissingExtra, install_line

__all__ = [
    "Frame",
    "VideoFile",
    "VideoInfo",
    "VideoOverLimit",
    "VideoUnreadable",
    "probe",
]

# FFmpeg's demuxers for single still images: a PNG or JPEG opens as a one-frame "video".
_STILL_FORMATS = ("image2", "_pipe")


class VideoUnreadable(ValueError):
    """The bytes are not a video that can be read; the message says why and what to do."""


class VideoOverLimit(ValueError):
    """A video over one of the limits given to :func:`probe` (``what`` is ``seconds``, ``frames`` or
    ``pixels``)."""

    def __init__(self, what: str, value: float, limit: float) -> None:
        self.what, self.value, self.limit = what, value, limit
        super().__init__(f"{what}: {value:g} over the limit of {limit:g}")


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: frame size, frame count, duration (s), mean frame rate, codec, container.

    ``times`` are the frames' presentation times in seconds from the first frame, in order.
    """

    width: int
    height: int
    frame_count: int
    duration: float
    fps: float
    codec: str
    container: str
    times: tuple[float, ...] = field(default=(), repr=False)

    @property
    def shape(self) -> list[int]:
        """``[width, height, frame_count, duration in ms]``: the shape a video artifact records."""
        return [self.width, self.height, self.frame_count, round(self.duration * 1000)]

    def summary(self) -> dict[str, Any]:
        """What the controller reads about the video besides its handle."""
        return {
            "size": [self.width, self.height],
            "frames": self.frame_count,
            "duration_s": round(self.duration, 3),
            "fps": round(self.fps, 3),
        }


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in presentation order, its time in seconds, HxWx3 uint8 RGB pixels."""

    index: int
    time: float
    array: np.ndarray


def _av() -> Any:
    try:
        import av
    except ImportError as err:
        raise MissingExtra(
            f"reading videos needs PyAV, which comes with the [video] extra: {install_line('video')}"
        ) from err
    return av


def _open(data: bytes) -> Any:
    av = _av()
    if not data:
        raise VideoUnreadable("the file is empty; pass a video file's bytes")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.FFmpegError as err:
        raise VideoUnreadable(
            f"it is not a video FFmpeg can read (mp4, webm, avi, mov, mkv, animated GIF …), or its "
            f"header is cut off ({_reason(err)})"
        ) from None
    name = container.format.name
    if name == "image2" or name.endswith(_STILL_FORMATS[1]):
        container.close()
        raise VideoUnreadable(f"it is a still image ({name}), not a video; pass it in images=")
    if not container.streams.video:
        container.close()
        raise VideoUnreadable(f"it has no video stream ({name} holding only audio or data)")
    return container


def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)


def probe(
    data: bytes,
    *,
    max_seconds: float | None = None,
    max_frames: int | None = None,
    max_pixels: int | None = None,
) -> VideoInfo:
    """Check ``data`` is a readable video and read what it holds, stopping early at a limit.

    Raises :class:`VideoUnreadable` (not a video, a still image, no video stream, cut short, no
    frames, a first frame that does not decode) or :class:`VideoOverLimit`.
    """
    av = _av()
    with _open(data) as container:
        stream = container.streams.video[0]
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        if max_pixels is not None and width * height > max_pixels:
            raise VideoOverLimit("pixels", width * height, max_pixels)
        declared = _declared_seconds(container, stream)
        if max_seconds is not None and declared is not None and declared > max_seconds * 1.01:
            raise VideoOverLimit("seconds", declared, max_seconds)
        if max_frames is not None and stream.frames and stream.frames > max_frames:
            raise VideoOverLimit("frames", stream.frames, max_frames)
        stamps: list[int] = []
        last_duration = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                stamp = packet.pts if packet.pts is not None else packet.dts
                stamps.append(stamp if stamp is not None else len(stamps))
                last_duration = packet.duration or last_duration
                if max_frames is not None and len(stamps) > max_frames:
                    raise VideoOverLimit("frames", len(stamps), max_frames)
        except av.FFmpegError as err:
            raise VideoUnreadable(
                f"it is cut short or corrupt after {len(stamps)} frames ({_reason(err)})"
            ) from None
        if not stamps:
            raise VideoUnreadable("its video stream holds no frames (is the file cut short?)")
        if stream.frames and len(stamps) < stream.frames:
            raise VideoUnreadable(
                f"it is cut short: its header lists {stream.frames} frames but only {len(stamps)} are there"
            )
        if container.format.name == "gif" and not data.rstrip(b"\0").endswith(b";"):
            raise VideoUnreadable(f"it is cut short: the GIF's trailer is missing after {len(stamps)} frames")
        info = _info(stream, container.format.name, stamps, last_duration, declared)
    if max_seconds is not None and info.duration > max_seconds * 1.01:
        raise VideoOverLimit("seconds", info.duration, max_seconds)
    _first_frame(data)
    return info


def _declared_seconds(container: Any, stream: Any) -> float | None:
    """The duration the header states for the video stream (or the whole file), if any."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _info(stream: Any, container: str, stamps: list[int], last: int, declared: float | None) -> VideoInfo:
    base = float(stream.time_base) if stream.time_base else 0.0
    rate = float(stream.average_rate or stream.guessed_rate or 0)
    ordered = sorted(stamps)
    times = tuple((s - ordered[0]) * base for s in ordered) if base else ()
    if not times or (len(times) > 1 and times[-1] <= 0):  # no usable timestamps: assume a steady rate
        rate = rate or 25.0
        times = tuple(i / rate for i in range(len(stamps)))
    step = last * base if last and base else (1 / rate if rate else 0.0)
    if not step and len(times) > 1:
        step = times[-1] / (len(times) - 1)
    times = tuple(round(t, 6) for t in times)
    duration = round(times[-1] + step, 6)
    if declared is not None and stream.frames == 0 and duration < declared - max(2 * step, 0.05 * declared):
        raise VideoUnreadable(
            f"it is cut short: its header says {declared:.2f} s but its frames end at {duration:.2f} s"
        )
    fps = len(times) / duration if duration > 0 else rate
    codec = stream.codec_context.name or "unknown"
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    return VideoInfo(width, height, len(times), duration, fps, codec, container, times)


def _first_frame(data: bytes) -> None:
    av = _av()
    with _open(data) as container:
        try:
            next(container.decode(container.streams.video[0]))
        except (StopIteration, av.FFmpegError) as err:
            raise VideoUnreadable(f"its first frame cannot be decoded ({_reason(err)})") from None


class VideoFile:
    """A video's encoded bytes; frames are decoded only when asked for.

    ``info`` is probed once, on first use. Frame indices count frames in presentation order from 0.
    """

    def __init__(self, data: bytes, info: VideoInfo | None = None) -> None:
        self.data = data
        self._info = info

    @property
    def info(self) -> VideoInfo:
        if self._info is None:
            self._info = probe(self.data)
        return self._info

    def index_at(self, seconds: float) -> int:
        """The frame on screen at ``seconds`` (the last one starting at or before it)."""
        times = self.info.times
        return max(0, int(np.searchsorted(np.asarray(times), seconds + 1e-6, side="right")) - 1)

    def frames(self, indices: Sequence[int]) -> list[Frame]:
        """The frames at ``indices`` (any order, repeats allowed), decoded in one pass up to the last one."""
        wanted = sorted(set(indices))
        if not wanted:
            return []
        if wanted[0] < 0 or wanted[-1] >= self.info.frame_count:
            raise IndexError(f"frame indices must lie in 0..{self.info.frame_count - 1}, got {wanted}")
        found: dict[int, Frame] = {}
        for frame in self.iter_frames(until=wanted[-1], keep=set(wanted)):
            found[frame.index] = frame
        last = max(found) if found else None
        # A stream that yields fewer frames than its packets promised repeats its last frame.
        return [found[i] if i in found else found[last] for i in indices if last is not None]

    def iter_frames(
        self, *, until: int | None = None, keep: set[int] | None = None, size: tuple[int, int] | None = None
    ) -> Iterator[Frame]:
        """Decode frames in order: those in ``keep`` (default: all) up to index ``until``, optionally
        scaled to ``size`` (width, height) by FFmpeg."""
        with _open(self.data) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            times = self.info.times
            for index, frame in enumerate(container.decode(stream)):
                if until is not None and index > until:
                    break
                if keep is not None and index not in keep:
                    continue
                if size is not None:
                    frame = frame.reformat(width=size[0], height=size[1])
                time = times[index] if index < len(times) else (times[-1] if times else 0.0)
                yield Frame(index, float(time), frame.to_ndarray(format="rgb24"))
