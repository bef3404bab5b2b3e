"""A task's multipart upload, read as it streams in: size and pixel caps hold before anything is decoded.

The body is parsed chunk by chunk (python-multipart); the request is refused as soon as it passes the
body cap, an image passes the per-image byte cap, or an image's header (read from its first bytes)
declares more pixels than allowed. Images are kept as the uploaded bytes; nothing a client sends is
ever used as a file name or path on the server.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from PIL import Image
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from orchestrator.service.limits import ApiError

__all__ = ["TEXT_FIELDS", "TaskForm", "UploadLimits", "read_task_form"]

TEXT_FIELDS = ("task", "session", "max_steps", "deadline_s", "plan")
IMAGE_FIELDS = ("images", "image")
_PROBES = (256, 1024, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20)


@dataclass(frozen=True)
class UploadLimits:
    """Caps on one task request (from the config's ``service`` section and image limits)."""

    max_body_bytes: int
    max_image_bytes: int
    max_image_pixels: int
    max_images: int
    max_field_bytes: int = 512 * 1024


@dataclass
class TaskForm:
    """The text fields and the images' bytes of a task request."""

    fields: dict[str, str] = field(default_factory=dict)
    images: list[bytes] = field(default_factory=list)


def _too_large(message: str) -> ApiError:
    return ApiError(413, message)


def image_size(data: bytes) -> tuple[int, int] | None:
    """The width and height an image's header declares, or None while the header is incomplete."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Image.DecompressionBombError as err:
        raise _too_large(f"an uploaded image is too large: {err}") from None
    except Exception:  # truncated header, or not an image (decided at the part's end)
        return None


class _Reader:
    """python-multipart callbacks that collect the parts, enforcing the caps as bytes arrive."""

    def __init__(self, limits: UploadLimits) -> None:
        self.limits = limits
        self.form = TaskForm()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._is_file = False
        self._buffer = bytearray()
        self._probe = 0
        self._sized = False

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
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = b"filename" in options
        if self._name == "videos":
            raise ApiError(415, "videos are not supported yet; upload images in 'images'")
        if self._name in IMAGE_FIELDS:
            if not self._is_file:
                raise ApiError(
                    400,
                    f"'{self._name}' must be an uploaded file; a text value cannot name a file on the server",
                )
            if len(self.form.images) >= self.limits.max_images:
                raise _too_large(f"too many images: at most {self.limits.max_images} per task")
        elif self._name in TEXT_FIELDS:
            if self._is_file:
                raise ApiError(400, f"'{self._name}' is a text field, not a file")
            if self._name in self.form.fields:
                raise ApiError(400, f"'{self._name}' is given twice")
        else:
            known = ", ".join((*TEXT_FIELDS, "images"))
            raise ApiError(400, f"unknown form field {self._name!r}; the fields are: {known}")

    # -- data -----------------------------------------------------------------------------------------
    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._buffer += data[start:end]
        size = len(self._buffer)
        if self._name in IMAGE_FIELDS:
            if size > self.limits.max_image_bytes:
                raise _too_large(
                    f"image {len(self.form.images) + 1} is over the {self.limits.max_image_bytes}-byte limit"
                )
            while not self._sized and self._probe < len(_PROBES) and size >= _PROBES[self._probe]:
                self._probe += 1
                self._check_pixels(final=False)
        elif size > self.limits.max_field_bytes:
            raise _too_large(f"field '{self._name}' is over {self.limits.max_field_bytes} bytes")

    def _check_pixels(self, *, final: bool) -> None:
        number = len(self.form.images) + 1
        declared = image_size(bytes(self._buffer))
        if declared is None:
            if final:
                raise ApiError(415, f"image {number} is not an image this service can read (PNG, JPEG, …)")
            return
        self._sized = True
        width, height = declared
        if width * height > self.limits.max_image_pixels:
            raise _too_large(
                f"image {number} is {width}x{height} = {width * height} pixels, over the "
                f"{self.limits.max_image_pixels}-pixel limit (max_image_pixels)"
            )

    def on_part_end(self) -> None:
        if self._name in IMAGE_FIELDS:
            if not self._sized:
                self._check_pixels(final=True)
            self.form.images.append(bytes(self._buffer))
        else:
            try:
                self.form.fields[self._name] = self._buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, f"field '{self._name}' is not UTF-8 text") from None

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
    """Parse a ``multipart/form-data`` task request from its body ``chunks``; :class:`ApiError` on refusal."""
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
