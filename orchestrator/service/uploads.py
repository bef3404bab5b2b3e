"""A task's multipart upload, read as it streams in: size, pixel and duration caps hold before decoding.

The body is parsed chunk by chunk (python-multipart); the request is refused as soon as it passes the
body cap, a file passes its byte cap, an image's header (read from its first bytes) declares more
pixels than allowed, or a video's container header declares a frame, a duration or a frame count over
the caps. Files are kept as the uploaded bytes; nothing a client sends is ever used as a file name or
path on the server.

The fields: ``task``, ``session``, ``max_steps``, ``deadline_s``, ``plan`` (text); ``images`` and
``videos`` (files, repeated); and named inputs, each field named by its handle (the SDK's
``inputs=``): ``image-N``, ``video-N`` and ``mask-N`` are files (a mask as a PNG of 0/255 or 0/1
values), ``text-N`` is text and ``boxes-N`` a JSON list of ``[x0, y0, x1, y1]`` boxes (or of
``{"box": …, "label": …}``); ``for`` (JSON) says which image or video a mask or boxes input is for,
e.g. ``{"mask-1": "image-2"}``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from orchestrator.service.limits import ApiError
from orchestrator.service.media import DEFAULT_VIDEO_CAPS, VideoCaps, check_header, image_size, video_header

__all__ = ["TEXT_FIELDS", "TaskForm", "UploadLimits", "read_task_form"]

TEXT_FIELDS = ("task", "session", "max_steps", "deadline_s", "plan", "for")
IMAGE_FIELDS = ("images", "image")
VIDEO_FIELDS = ("videos", "video")
NAMED = re.compile(r"^(image|video|mask|text|boxes)-([1-9][0-9]{0,5})$")
_NAMED_FILES = ("image", "video", "mask")
_PROBES = (256, 1024, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20)
_VIDEO_PROBES = (1 << 12, 1 << 16, 1 << 18, 1 << 20, 4 << 20, 16 << 20)


@dataclass(frozen=True)
class UploadLimits:
    """Caps on one task request (from the config's ``service`` section and input limits)."""

    max_body_bytes: int
    max_image_bytes: int
    max_image_pixels: int
    max_images: int
    max_field_bytes: int = 512 * 1024
    video: VideoCaps = DEFAULT_VIDEO_CAPS
    max_videos: int = 4


@dataclass
class TaskForm:
    """The text fields, the images' and videos' bytes, and the named inputs (bytes or text) of a task."""

    fields: dict[str, str] = field(default_factory=dict)
    images: list[bytes] = field(default_factory=list)
    videos: list[bytes] = field(default_factory=list)
    named: dict[str, bytes | str] = field(default_factory=dict)

    def all_videos(self) -> list[tuple[str, bytes]]:
        """(what to call it, bytes) of every uploaded video: ``videos`` in order, then named ones."""
        listed = [(f"video {i}", data) for i, data in enumerate(self.videos, start=1)]
        named = [(k, v) for k, v in self.named.items() if k.startswith("video-")]
        return listed + [(f"input '{k}'", v) for k, v in named if isinstance(v, bytes)]


def _too_large(message: str) -> ApiError:
    return ApiError(413, message)


class _Reader:
    """python-multipart callbacks that collect the parts, enforcing the caps as bytes arrive."""

    def __init__(self, limits: UploadLimits) -> None:
        self.limits = limits
        self.form = TaskForm()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._kind = "text"  # what the part holds: image (images, image-N, mask-N), video, or text
        self._buffer = bytearray()
        self._probe = 0
        self._sized = False
        self._pictures = 0  # image and mask files so far
        self._videos = 0

    # -- headers --------------------------------------------------------------------------------------
    def on_part_begin(self) -> None:
        self._headers, self._buffer, self._probe, self._sized = {}, bytearray(), 0, False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = self._name = options.get(b"name", b"").decode("utf-8", "replace")
        is_file = b"filename" in options
        named = NAMED.match(name)
        if name in IMAGE_FIELDS or name in VIDEO_FIELDS or (named and named.group(1) in _NAMED_FILES):
            if not is_file:
                raise ApiError(
                    400, f"'{name}' must be an uploaded file; a text value cannot name a file on the server"
                )
            video = name in VIDEO_FIELDS or (named is not None and named.group(1) == "video")
            self._kind = "video" if video else "image"
            self._count_file(video)
        elif name in TEXT_FIELDS or named:
            self._kind = "text"
            if is_file:
                raise ApiError(400, f"'{name}' is a text field, not a file")
        else:
            known = ", ".join((*TEXT_FIELDS, "images", "videos"))
            raise ApiError(
                400,
                f"unknown form field {name!r}; the fields are: {known}, and named inputs "
                "image-N, video-N, mask-N (files), text-N, boxes-N (text)",
            )
        if name in self.form.fields or name in self.form.named:
            raise ApiError(400, f"'{name}' is given twice")

    def _count_file(self, video: bool) -> None:
        if video:
            self._videos += 1
            if self._videos > self.limits.max_videos:
                raise _too_large(f"too many videos: at most {self.limits.max_videos} per task")
        else:
            self._pictures += 1
            if self._pictures > self.limits.max_images:
                raise _too_large(f"too many images: at most {self.limits.max_images} per task")

    def _what(self) -> str:
        if self._name in IMAGE_FIELDS:
            return f"image {len(self.form.images) + 1}"
        if self._name in VIDEO_FIELDS:
            return f"video {len(self.form.videos) + 1}"
        return f"input '{self._name}'"

    # -- data -----------------------------------------------------------------------------------------
    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._buffer += data[start:end]
        size = len(self._buffer)
        if self._kind == "image":
            if size > self.limits.max_image_bytes:
                raise _too_large(f"{self._what()} is over the {self.limits.max_image_bytes}-byte limit")
            while not self._sized and self._probe < len(_PROBES) and size >= _PROBES[self._probe]:
                self._probe += 1
                self._check_pixels(final=False)
        elif self._kind == "video":
            if size > self.limits.video.max_bytes:
                raise _too_large(
                    f"{self._what()} is over the {self.limits.video.max_bytes}-byte limit (max_video_bytes)"
                )
            probes = _VIDEO_PROBES
            while not self._sized and self._probe < len(probes) and size >= probes[self._probe]:
                self._probe += 1
                self._check_video_header()
        elif size > self.limits.max_field_bytes:
            raise _too_large(f"field '{self._name}' is over {self.limits.max_field_bytes} bytes")

    def _check_pixels(self, *, final: bool) -> None:
        declared = image_size(bytes(self._buffer))
        if declared is None:
            if final:
                raise ApiError(415, f"{self._what()} is not an image this service can read (PNG, JPEG, …)")
            return
        self._sized = True
        width, height = declared
        if width * height > self.limits.max_image_pixels:
            raise _too_large(
                f"{self._what()} is {width}x{height} = {width * height} pixels, over the "
                f"{self.limits.max_image_pixels}-pixel limit (max_image_pixels)"
            )

    def _check_video_header(self) -> None:
        header = video_header(bytes(self._buffer))
        if header is not None:
            self._sized = True
            check_header(header, self._what(), self.limits.video)

    def on_part_end(self) -> None:
        if self._kind == "image" and not self._sized:
            self._check_pixels(final=True)
        if self._kind == "video" and not self._sized and len(self._buffer) < _VIDEO_PROBES[-1]:
            self._check_video_header()  # a short file: its header is all there now
        if self._name in IMAGE_FIELDS:
            self.form.images.append(bytes(self._buffer))
        elif self._name in VIDEO_FIELDS:
            self.form.videos.append(bytes(self._buffer))
        elif self._kind != "text":
            self.form.named[self._name] = bytes(self._buffer)
        else:
            try:
                text = self._buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, f"field '{self._name}' is not UTF-8 text") from None
            if NAMED.match(self._name):
                self.form.named[self._name] = text
            else:
                self.form.fields[self._name] = text

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }


async def read_task_form(
    content_type: str | None, content_length: str | None, chunks: AsyncIterator[bytes], limits: UploadLimits
) -> TaskForm:
    """Parse a ``multipart/form-data`` task request from its body ``chunks``; :class:`ApiError` on refusal.

    Videos are checked here as far as their headers go; :func:`orchestrator.service.media.check_video`
    checks each whole one afterwards (it reads every packet: run it off the event loop)."""
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(415, "send the task as multipart/form-data (curl -F task=… -F images=@photo.jpg)")
    if content_length and content_length.isdigit() and int(content_length) > limits.max_body_bytes:
        raise _too_large(
            f"the request is {content_length} bytes, over the {limits.max_body_bytes}-byte limit"
        )
    reader = _Reader(limits)
    parser = MultipartParser(options[b"boundary"], reader.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limits.max_body_bytes:
                raise _too_large(f"the request is over the {limits.max_body_bytes}-byte limit")
            parser.write(chunk)
        parser.finalize()
    except FormParserError as err:
        raise ApiError(400, f"the multipart body is malformed: {err}") from None
    return reader.form
