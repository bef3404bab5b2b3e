"""Turn user videos (file paths or the bytes of a file) into checked, probed video files.

Each video is checked before any work, with the config's limits (``max_video_bytes``,
``max_video_seconds``, ``max_video_frames``, ``max_video_pixels``): an empty, truncated or
non-video file, a still image, or a video over a limit raises :class:`InputError`. The file's
bytes are kept as they are (a video artifact is the original file, content-addressed); frames are
decoded later, in the replica that needs them. :func:`decode_video` works on bytes alone, so the
HTTP service can check an upload the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from experts._video_io import VideoFile, VideoOverLimit, VideoUnreadable, probe
from extensions.extras import MissingExtra
from orchestrator.config import ReactorConfig
from orchestrator.errors import InputError

__all__ = ["decode_video", "decode_videos"]

_LIMITS = {
    "seconds": ("max_video_seconds", "{value:.1f} s long", "{limit:g} s", "cut it shorter"),
    "frames": ("max_video_frames", "{value:.0f} frames long", "{limit:g} frames", "cut it shorter"),
    "pixels": ("max_video_pixels", "{value:.0f} pixels a frame", "{limit:g}", "downscale it"),
}


def decode_videos(videos: Any, config: ReactorConfig) -> list[VideoFile]:
    """Check every video or raise :class:`InputError` naming the offending one."""
    if videos is None:
        return []
    if isinstance(videos, (str, os.PathLike, bytes, bytearray, memoryview)):
        videos = [videos]
    if not isinstance(videos, (list, tuple)):
        raise InputError(
            "videos must be a video file path, a file's bytes, or a list of them; "
            f"got {type(videos).__name__}"
        )
    checked = []
    for index, item in enumerate(videos, start=1):
        try:
            checked.append(decode_video(item, config))
        except InputError as err:
            raise InputError(f"video {index} of {len(videos)}: {err}") from None
    return checked


def decode_video(item: Any, config: ReactorConfig) -> VideoFile:
    """One video (a path or a file's bytes) → a probed :class:`~experts._video_io.VideoFile`."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        data, what = bytes(item), f"the {len(item)} bytes given"
    elif isinstance(item, (str, os.PathLike)):
        path = Path(item).expanduser()
        if not path.is_file():
            raise InputError(
                f"{path} {'is not a file' if path.exists() else 'does not exist'}; check the path"
            )
        size = path.stat().st_size
        if size > config.max_video_bytes:
            raise InputError(
                f"{path} is {size} bytes, over the {config.max_video_bytes}-byte limit (max_video_bytes)"
            )
        data, what = path.read_bytes(), str(path)
    else:
        raise InputError(
            f"cannot use a {type(item).__name__} as a video; pass a video file's path or its bytes"
        )
    if len(data) > config.max_video_bytes:
        raise InputError(f"{what}: {len(data)} bytes is over the limit (max_video_bytes)")
    try:
        info = probe(
            data,
            max_seconds=config.max_video_seconds,
            max_frames=config.max_video_frames,
            max_pixels=config.max_video_pixels,
        )
    except MissingExtra as err:
        raise InputError(str(err)) from None
    except VideoUnreadable as err:
        raise InputError(f"{what} cannot be used as a video: {err}") from None
    except VideoOverLimit as err:
        setting, shown, limit, fix = _LIMITS[err.what]
        raise InputError(
            f"{what} is {shown.format(value=err.value)}, over the limit of {limit.format(limit=err.limit)} "
            f"({setting}); {fix} or raise the limit in the config"
        ) from None
    return VideoFile(data, info)
