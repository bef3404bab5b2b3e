"""The remote client's multipart parts: images, videos and named inputs as the service's form fields.

Files go as their bytes (a path is read here, on the client: the server never sees a path); PIL images
and arrays as PNG; masks as 0/255 PNGs; boxes as JSON; ``{"mask": …, "for": "image-2"}`` wrappers put
their target in the ``for`` field. The service checks everything again.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.errors import InputError

__all__ = ["Part", "input_parts", "media_parts"]

Part = tuple[str, Any]
"""One multipart part: (field name, (file name or None, bytes or text[, content type]))."""


def _file(path: Any, what: str) -> bytes:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{path} is not a file; pass {what} file (or its bytes)")
    return path.read_bytes()


def _png(item: Any, what: str) -> bytes:
    from PIL import Image

    if not isinstance(item, Image.Image):
        import numpy as np

        if not isinstance(item, np.ndarray):
            raise InputError(
                f"cannot send a {type(item).__name__} as {what}; pass a path, bytes, PIL image or array"
            )
        item = Image.fromarray(item)
    buffer = io.BytesIO()
    item.save(buffer, format="PNG")
    return buffer.getvalue()


def _image_bytes(item: Any) -> bytes:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, (str, os.PathLike)):
        return _file(item, "an image")
    return _png(item, "an image")


def _video_bytes(item: Any, where: str) -> bytes:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, (str, os.PathLike)):
        return _file(item, "a video")
    raise InputError(f"{where}: cannot send a {type(item).__name__} as a video; pass a file's path or bytes")


def _mask_bytes(item: Any, where: str) -> bytes:
    import numpy as np

    if isinstance(item, (bytes, bytearray, memoryview, str, os.PathLike)):
        return _image_bytes(item)
    if isinstance(item, np.ndarray):
        values = set(np.unique(item).tolist()) if item.size <= 1 << 26 else set()
        if item.dtype == np.bool_ or values <= {0, 1}:
            item = (item > 0).astype(np.uint8) * 255  # PNG of 0/255: the service reads it as binary
        elif values <= {0, 255}:
            item = item.astype(np.uint8)
    return _png(item, f"{where}'s mask")


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def media_parts(images: Any, videos: Any) -> list[Part]:
    """``images`` and ``videos`` (one or a list each) as ``images`` and ``videos`` file parts."""
    parts: list[Part] = [
        ("images", (f"image-{i}", _image_bytes(item), "application/octet-stream"))
        for i, item in enumerate(_listed(images), start=1)
    ]
    parts += [
        ("videos", (f"video-{i}", _video_bytes(item, f"video {i}"), "application/octet-stream"))
        for i, item in enumerate(_listed(videos), start=1)
    ]
    return parts


def input_parts(inputs: Mapping[str, Any] | None) -> list[Part]:
    """Named inputs (the SDK's ``inputs=``) as parts named by their handles, plus ``for`` if any."""
    if inputs is None:
        return []
    if not isinstance(inputs, Mapping):
        raise InputError(f"inputs must be a mapping of handles to values; got {type(inputs).__name__}")
    parts: list[Part] = []
    targets: dict[str, str] = {}
    for handle, value in inputs.items():
        kind, where = str(handle).split("-", 1)[0], f"inputs[{handle!r}]"
        if kind in ("mask", "boxes") and isinstance(value, Mapping) and "for" in value:
            targets[handle] = value["for"]
            value = value.get(kind)
        if kind == "image":
            parts.append((handle, (handle, _image_bytes(value), "application/octet-stream")))
        elif kind == "video":
            parts.append((handle, (handle, _video_bytes(value, where), "application/octet-stream")))
        elif kind == "mask":
            parts.append((handle, (f"{handle}.png", _mask_bytes(value, where), "image/png")))
        elif kind == "boxes":
            try:
                parts.append((handle, (None, json.dumps(value, default=int))))
            except (TypeError, ValueError) as err:
                raise InputError(f"{where}: boxes must be a list of [x0, y0, x1, y1] boxes ({err})") from None
        elif kind == "text":
            if not isinstance(value, str):
                raise InputError(f"{where}: a text input must be a string, got {type(value).__name__}")
            parts.append((handle, (None, value)))
        else:
            raise InputError(
                f"{where}: a named input's key is its handle, like 'mask-1', 'boxes-1', 'text-1', "
                "'image-1' or 'video-1'"
            )
    if targets:
        parts.append(("for", (None, json.dumps(targets))))
    return parts
