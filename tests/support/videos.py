"""Small videos made in memory with PyAV, for tests and benchmarks (no files to ship)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import numpy as np

__all__ = ["CONTAINERS", "encode_video", "moving_square", "noisy_frame"]

CONTAINERS = {  # container format -> (codec, pixel format, file suffix)
    "mp4": ("libx264", "yuv420p", ".mp4"),
    "webm": ("libvpx-vp9", "yuv420p", ".webm"),
    "avi": ("mpeg4", "yuv420p", ".avi"),
    "mov": ("mpeg4", "yuv420p", ".mov"),
    "matroska": ("libx264", "yuv420p", ".mkv"),
    "gif": ("gif", "rgb8", ".gif"),
}


def moving_square(index: int, width: int = 96, height: int = 64) -> np.ndarray:
    """Frame ``index`` of a clip: a white square moving right over a background whose colour says the
    frame's scene (red for frames 0-14, blue from 15 on)."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:] = (200, 30, 30) if index < 15 else (30, 30, 200)
    x = (index * 3) % (width - 16)
    frame[20:36, x : x + 16] = 255
    return frame


def encode_video(
    count: int = 30,
    *,
    fmt: str = "mp4",
    fps: int = 10,
    make: Callable[[int], np.ndarray] = moving_square,
) -> bytes:
    """The bytes of a ``count``-frame video in container ``fmt``, frame ``i`` drawn by ``make(i)``."""
    import av

    codec, pix_fmt, suffix = CONTAINERS[fmt]
    first = make(0)
    handle, path = tempfile.mkstemp(suffix=suffix)
    os.close(handle)
    try:
        with av.open(path, "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=fps)
            stream.width, stream.height = first.shape[1], first.shape[0]
            stream.pix_fmt = pix_fmt
            for index in range(count):
                frame = av.VideoFrame.from_ndarray(make(index) if index else first, format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.unlink(path)


def noisy_frame(index: int, width: int = 320, height: int = 240) -> np.ndarray:
    """Frame ``index`` of random pixels (seeded by the index): a clip that compresses badly, so its file is
    large for its frame count."""
    return np.random.default_rng(index).integers(0, 256, (height, width, 3), dtype=np.uint8)
