"""Video inputs: each container decodes from bytes or a path; bad files and over-limit videos are refused."""

from __future__ import annotations

import io
import sys
import wave

import numpy as np
import pytest
from PIL import Image

from experts._video_io import VideoFile
from orchestrator.config import ReactorConfig
from orchestrator.errors import InputError
from orchestrator.video_inputs import decode_video, decode_videos
from tests.support.videos import CONTAINERS, encode_video, moving_square

pytest.importorskip("av")

CONFIG = ReactorConfig()


@pytest.fixture(scope="module")
def clips() -> dict[str, bytes]:
    """A 30-frame, 10 fps clip in each container."""
    return {fmt: encode_video(30, fmt=fmt) for fmt in CONTAINERS}


@pytest.mark.parametrize("fmt", sorted(CONTAINERS))
def test_each_container_is_probed_without_decoding_it_all(fmt: str, clips) -> None:
    info = decode_video(clips[fmt], CONFIG).info
    assert (info.width, info.height, info.frame_count) == (96, 64, 30)
    assert info.duration == pytest.approx(3.0, abs=0.011) and info.fps == pytest.approx(10, abs=0.05)
    assert info.shape == [96, 64, 30, round(info.duration * 1000)]
    assert len(info.times) == 30 and info.times[0] == 0 and info.times[10] == pytest.approx(1.0, abs=0.011)


@pytest.mark.parametrize("fmt", sorted(CONTAINERS))
def test_a_truncated_file_is_refused_before_any_work(fmt: str, clips) -> None:
    with pytest.raises(InputError, match=r"cut short|cut off|corrupt"):
        decode_video(clips[fmt][: len(clips[fmt]) // 2], CONFIG)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "is empty"),
        (b"not a video at all " * 40, "not a video FFmpeg can read"),
    ],
)
def test_empty_and_non_video_bytes_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        decode_video(data, CONFIG)


def test_a_still_image_is_not_a_video() -> None:
    buffer = io.BytesIO()
    Image.fromarray(moving_square(0)).save(buffer, format="PNG")
    with pytest.raises(InputError, match=r"still image .*pass it in images="):
        decode_video(buffer.getvalue(), CONFIG)


def test_a_file_without_a_video_stream_is_refused() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(np.zeros(8000, np.int16).tobytes())
    with pytest.raises(InputError, match="has no video stream"):
        decode_video(buffer.getvalue(), CONFIG)


@pytest.mark.parametrize(
    ("setting", "over", "under", "message"),
    [
        ("max_video_seconds", 2, 3, r"3\.0 s long, over the limit of 2 s \(max_video_seconds\)"),
        ("max_video_frames", 20, 30, r"frames long, over the limit of 20 frames \(max_video_frames\)"),
        (
            "max_video_pixels",
            96 * 64 - 1,
            96 * 64,
            r"6144 pixels a frame, over the limit .*\(max_video_pixels\)",
        ),
        ("max_video_bytes", 100, 10**6, r"over the limit \(max_video_bytes\)"),
    ],
)
def test_each_limit_is_enforced_and_named(setting: str, over: int, under: int, message: str, clips) -> None:
    with pytest.raises(InputError, match=message):
        decode_video(clips["mp4"], ReactorConfig(**{setting: over}))
    assert decode_video(clips["mp4"], ReactorConfig(**{setting: under})).info.frame_count == 30


def test_paths_bytes_and_lists(tmp_path, clips) -> None:
    path = tmp_path / "clip.webm"
    path.write_bytes(clips["webm"])
    files = decode_videos([str(path), path, bytearray(clips["gif"]), memoryview(clips["mp4"])], CONFIG)
    assert [f.info.codec for f in files] == ["vp9", "vp9", "gif", "h264"]
    assert files[0].data == clips["webm"]  # the original file is kept as it is
    assert decode_videos(None, CONFIG) == []
    with pytest.raises(InputError, match=r"video 2 of 2: .*missing.mp4 does not exist"):
        decode_videos([path, tmp_path / "missing.mp4"], CONFIG)
    with pytest.raises(InputError, match="is not a file"):
        decode_video(tmp_path, CONFIG)
    with pytest.raises(InputError, match="cannot use a int as a video"):
        decode_video(3, CONFIG)
    with pytest.raises(InputError, match="or a list of them; got dict"):
        decode_videos({"a": 1}, CONFIG)


def test_frames_are_decoded_on_demand_with_their_times(clips) -> None:
    video = VideoFile(clips["mp4"])
    frames = video.frames([20, 0, 20, 29])
    assert [f.index for f in frames] == [20, 0, 20, 29]
    assert [f.time for f in frames] == pytest.approx([2.0, 0.0, 2.0, 2.9], abs=1e-3)
    assert frames[1].array.shape == (64, 96, 3) and frames[1].array.dtype == np.uint8
    red, blue = frames[1].array[5, 5], frames[0].array[5, 5]  # the background says the scene
    assert red[0] > 150 > red[2] and blue[2] > 150 > blue[0]
    assert np.abs(frames[0].array[22:34, 62:74].astype(int) - 255).max() < 40  # the square moved right
    assert np.abs(frames[1].array[22:34, 62:74].astype(int) - 255).min() > 40
    assert video.index_at(0.0) == 0 and video.index_at(0.99) == 9 and video.index_at(1.0) == 10
    with pytest.raises(IndexError, match=r"0\.\.29"):
        video.frames([30])


def test_without_pyav_a_video_input_names_the_extra(monkeypatch, clips) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # import av now fails, as where PyAV is not installed
    with pytest.raises(InputError, match=r'pip install "mm-reactor\[video\]"'):
        decode_video(clips["mp4"], CONFIG)
