"""Videos and named inputs in a task's upload: kept as sent, caps held while streaming (from a video's
container header) and on the whole file, named fields turned into the SDK's ``inputs=``. No Ray."""

from __future__ import annotations

import asyncio
import io
import json
import re

import httpx
import numpy as np
import pytest
from PIL import Image

from orchestrator.service.form_inputs import check_videos, named_inputs
from orchestrator.service.limits import ApiError
from orchestrator.service.media import VideoCaps, video_type
from orchestrator.service.uploads import UploadLimits, read_task_form
from tests.support.videos import encode_video, noisy_frame

pytest.importorskip("av")

CAPS = VideoCaps(max_bytes=1 << 20, max_seconds=10, max_frames=100, max_pixels=200 * 200)
LIMITS = UploadLimits(
    max_body_bytes=4 << 20,
    max_image_bytes=1 << 19,
    max_image_pixels=200 * 200,
    max_images=2,
    video=CAPS,
    max_videos=2,
)


@pytest.fixture(scope="module")
def clip() -> bytes:
    return encode_video(30)  # 96x64, 30 frames at 10 fps: 3 s


def png(width: int = 40, height: int = 30, value: int = 120) -> bytes:
    buffer = io.BytesIO()
    Image.new("L" if value in (0, 255) else "RGB", (width, height), value).save(buffer, format="PNG")
    return buffer.getvalue()


def body(parts: list[tuple[str, tuple]]) -> tuple[str, bytes]:
    request = httpx.Request("POST", "http://service/v1/tasks", files=[("task", (None, "x")), *parts])
    return request.headers["content-type"], request.read()


async def _chunks(data: bytes, consumed: list[int]):
    for start in range(0, len(data), 1024):
        consumed.append(start + 1024)
        yield data[start : start + 1024]


def parse(parts: list[tuple[str, tuple]], limits: UploadLimits = LIMITS, consumed: list[int] | None = None):
    content_type, data = body(parts)
    chunks = _chunks(data, [] if consumed is None else consumed)
    return asyncio.run(read_task_form(content_type, None, chunks, limits))


def video(data: bytes, name: str = "videos") -> tuple[str, tuple]:
    return name, ("clip.bin", data, "application/octet-stream")


def refused(parts: list[tuple[str, tuple]], limits: UploadLimits = LIMITS) -> ApiError:
    with pytest.raises(ApiError) as caught:
        check_videos(parse(parts, limits), limits)
    return caught.value


def test_videos_and_named_inputs_are_kept_as_sent(clip):
    mask = png(value=255)
    form = parse(
        [
            video(clip),
            video(clip, "video-2"),
            ("mask-1", ("m.png", mask, "image/png")),
            ("boxes-1", (None, "[[1, 2, 30, 20]]")),
            ("text-1", (None, "a note")),
            ("for", (None, '{"mask-1": "video-2"}')),
        ]
    )
    assert form.videos == [clip] and form.named["video-2"] == clip and form.named["mask-1"] == mask
    check_videos(form, LIMITS)  # both whole videos pass
    assert [name for name, _ in form.all_videos()] == ["video 1", "input 'video-2'"]
    assert named_inputs(form) == {
        "video-2": clip,
        "mask-1": {"mask": mask, "for": "video-2"},
        "boxes-1": [[1, 2, 30, 20]],
        "text-1": "a note",
    }
    assert named_inputs(parse([video(clip)])) is None


@pytest.mark.parametrize(
    ("caps", "message"),
    [
        (
            {"max_pixels": 96 * 64 - 1},
            r"video 1 is 6144 pixels a frame, over the limit of 6143 \(max_video_pixels\)",
        ),
        ({"max_seconds": 2}, r"video 1 is 3\.0 s long, over the limit of 2 \(max_video_seconds\)"),
        ({"max_frames": 20}, r"video 1 is (30|21) frames long, over the limit of 20 \(max_video_frames\)"),
    ],
)
def test_each_video_cap_answers_413_naming_its_setting(clip, caps, message):
    limits = UploadLimits(**{**LIMITS.__dict__, "video": VideoCaps(**{**CAPS.__dict__, **caps})})
    error = refused([video(clip)], limits)
    assert error.status == 413
    assert re.search(message, error.message), error.message


def test_a_video_over_the_pixel_cap_is_refused_from_its_header_before_the_rest_arrives():
    big = encode_video(40, fmt="matroska", make=lambda i: noisy_frame(i, 320, 240))  # header first
    consumed: list[int] = []
    content_type, data = body([video(big)])
    assert len(data) > 64 * 1024
    with pytest.raises(ApiError, match="76800 pixels a frame") as caught:
        asyncio.run(read_task_form(content_type, None, _chunks(data, consumed), LIMITS))
    assert caught.value.status == 413 and max(consumed) < len(data) // 4


def test_byte_and_count_caps_hold_while_streaming(clip):
    small = UploadLimits(**{**LIMITS.__dict__, "video": VideoCaps(**{**CAPS.__dict__, "max_bytes": 2000})})
    consumed: list[int] = []
    with pytest.raises(ApiError, match="over the 2000-byte limit \\(max_video_bytes\\)"):
        parse([video(clip)], small, consumed)
    assert max(consumed) < 2000 + 2048
    with pytest.raises(ApiError, match="at most 2 per task") as caught:
        parse([video(clip), video(clip), video(clip, "video-3")])
    assert caught.value.status == 413


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a video at all", "not a video FFmpeg can read"),
        (png(), "still image"),
        (b"", "empty"),
    ],
)
def test_what_is_not_a_readable_video_answers_415(data, message):
    error = refused([video(data)])
    assert error.status == 415 and message in error.message and "video 1" in error.message


def test_a_truncated_video_answers_415(clip):
    error = refused([video(clip[: len(clip) * 2 // 3])])
    assert error.status == 415 and error.message.startswith("video 1 cannot be used as a video: ")


@pytest.mark.parametrize(
    ("parts", "status", "message"),
    [
        ([("videos", (None, "/tmp/clip.mp4"))], 400, "cannot name a file"),
        ([("mask-1", (None, "/etc/passwd"))], 400, "cannot name a file"),
        ([("text-1", ("t.txt", b"hello", "text/plain"))], 400, "is a text field"),
        ([("mask-0", ("m.png", png(), "image/png"))], 400, "unknown form field"),
        ([("text-1", (None, "a")), ("text-1", (None, "b"))], 400, "given twice"),
    ],
)
def test_named_fields_refused_while_reading(parts, status, message):
    with pytest.raises(ApiError) as caught:
        parse(parts)
    assert caught.value.status == status and message in caught.value.message


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([("boxes-1", (None, "[[1, 2"))], "'boxes-1' must be a JSON list"),
        ([("text-1", (None, "x")), ("for", (None, '{"text-1": "image-1"}'))], "not a mask-N or boxes-N"),
        ([("boxes-1", (None, "[]")), ("for", (None, "[1]"))], "must be a JSON object"),
    ],
)
def test_named_inputs_refused_with_422(parts, message):
    with pytest.raises(ApiError) as caught:
        named_inputs(parse(parts))
    assert caught.value.status == 422 and message in caught.value.message


def test_video_artifacts_are_served_with_their_container_type(clip):
    assert video_type(clip) == "video/mp4"
    assert video_type(encode_video(3, fmt="webm")) == "video/webm"
    assert video_type(encode_video(3, fmt="matroska")) == "video/x-matroska"
    assert video_type(encode_video(3, fmt="avi")) == "video/x-msvideo"
    assert video_type(encode_video(3, fmt="gif")) == "image/gif"
    assert video_type(b"\x00" * 64) == "application/octet-stream"


def test_a_mask_input_is_sent_as_a_binary_png():
    from orchestrator.service.client_uploads import input_parts

    mask = np.zeros((30, 40), bool)
    mask[5:10, 5:20] = True
    parts = dict(input_parts({"mask-1": {"mask": mask, "for": "image-1"}, "boxes-1": [[0, 0, 4, 4]]}))
    sent = np.asarray(Image.open(io.BytesIO(parts["mask-1"][1])))
    assert sent.shape == (30, 40) and set(np.unique(sent).tolist()) == {0, 255}
    assert ((sent > 0) == mask).all()
    assert json.loads(parts["boxes-1"][1]) == [[0, 0, 4, 4]]
    assert json.loads(parts["for"][1]) == {"mask-1": "image-1"}
