"""A run's inputs, checked before any work: ``images=``, ``videos=`` and named ``inputs=``.

``inputs`` maps handles to values; the handle's kind says what the value must be:

- ``"image-N"``: an image (as for ``images=``);
- ``"video-N"``: a video file's path or bytes (as for ``videos=``);
- ``"mask-N"``: a binary mask: a 2-D numpy array (bool, or integers/floats that are only 0 and 1, or
  only 0 and 255), a PIL image, or an image file's path or bytes holding such values;
- ``"boxes-N"``: a list of ``[x0, y0, x1, y1]`` integer pixel boxes, or of ``{"box": […],
  "label": …}`` items;
- ``"text-N"``: a non-empty string.

A mask or boxes input is for an image or video, whose size it must fit: the run's only image or
video, or the one named by wrapping the value, ``{"mask": array, "for": "image-2"}`` or
``{"boxes": [...], "for": "video-1"}`` (a handle of this run's inputs or of the session). A named
handle must be free in the session; ``images=`` and ``videos=`` take the next free handles.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from experts.base import HANDLE_PATTERN
from orchestrator.agent.input_artifacts import TaskInput
from orchestrator.config import ReactorConfig
from orchestrator.errors import InputError
from orchestrator.inputs import decode_image, decode_images
from orchestrator.video_inputs import decode_video, decode_videos

__all__ = ["MAX_TEXT_CHARS", "collect_inputs"]

MAX_TEXT_CHARS = 200_000


def collect_inputs(images: Any, videos: Any, inputs: Any, config: ReactorConfig) -> list[TaskInput]:
    """Every input of a run, decoded and checked on its own (handles are given later, in the session)."""
    arrays = decode_images(images, max_pixels=config.max_image_pixels, max_bytes=config.max_image_bytes)
    collected = [
        TaskInput("image", array, [int(array.shape[1]), int(array.shape[0])], f"image {i} of {len(arrays)}")
        for i, array in enumerate(arrays, start=1)
    ]
    files = decode_videos(videos, config)
    collected += [
        TaskInput("video", file, file.info.shape, f"video {i} of {len(files)}")
        for i, file in enumerate(files, start=1)
    ]
    if inputs is None:
        return collected
    if not isinstance(inputs, Mapping):
        raise InputError(
            "inputs must be a mapping of handles to values, e.g. {'mask-1': mask}; "
            f"got {type(inputs).__name__}"
        )
    return [*collected, *(_named(str(key), value, config) for key, value in inputs.items())]


def _named(handle: str, value: Any, config: ReactorConfig) -> TaskInput:
    match = HANDLE_PATTERN.match(handle)
    where = f"inputs[{handle!r}]"
    if not match:
        raise InputError(
            f"{where}: a named input's key is its handle, like 'mask-1', 'boxes-1', 'text-1', "
            "'image-1' or 'video-1'"
        )
    kind = match.group(1)
    if kind == "image":
        array = _checked(
            where, decode_image, value, max_pixels=config.max_image_pixels, max_bytes=config.max_image_bytes
        )
        return TaskInput("image", array, [int(array.shape[1]), int(array.shape[0])], where, handle)
    if kind == "video":
        file = _checked(where, decode_video, value, config)
        return TaskInput("video", file, file.info.shape, where, handle)
    if kind == "text":
        return TaskInput("text", _text(where, value), [len(value)], where, handle)
    value, target = _unwrap(where, kind, value)
    if kind == "mask":
        mask = _mask(where, value, config)
        return TaskInput("mask", mask, [int(mask.shape[1]), int(mask.shape[0])], where, handle, target)
    items = _box_items(where, value)
    boxes = [item["box"] for item in items]
    return TaskInput("boxes", items, [len(items)], where, handle, target, boxes)


def _checked(where: str, decode: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return decode(*args, **kwargs)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: a text input must be a non-empty string, got {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise InputError(f"{where}: the text is {len(value)} characters long; keep it under {MAX_TEXT_CHARS}")
    return value


def _unwrap(where: str, kind: str, value: Any) -> tuple[Any, str | None]:
    """``{kind: value, "for": handle}`` → (value, handle); a bare value → (value, None)."""
    if not isinstance(value, Mapping):
        return value, None
    if set(value) != {kind, "for"}:
        raise InputError(
            f"{where}: give the {kind} alone, or as {{'{kind}': …, 'for': '<image or video handle>'}}; "
            f"got the keys {sorted(map(str, value))}"
        )
    target = value["for"]
    if not isinstance(target, str) or not HANDLE_PATTERN.match(target):
        raise InputError(
            f"{where}: 'for' must be the handle of an image or video, like 'image-1'; got {target!r}"
        )
    return value[kind], target


def _mask(where: str, value: Any, config: ReactorConfig) -> np.ndarray:
    if isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview)):
        value = _open_image(where, value, config)
    if isinstance(value, Image.Image):
        if value.width * value.height > config.max_image_pixels:
            raise InputError(
                f"{where}: the mask is over the limit of {config.max_image_pixels} pixels (max_image_pixels)"
            )
        value = np.asarray(value.convert("L") if value.mode not in ("1", "L") else value)
    if not isinstance(value, np.ndarray):
        raise InputError(
            f"{where}: cannot use a {type(value).__name__} as a mask; pass a 2-D numpy array, a PIL "
            "image, or an image file's path or bytes"
        )
    array = value[:, :, 0] if value.ndim == 3 and value.shape[2] == 1 else value
    if array.ndim != 2 or 0 in array.shape:
        raise InputError(f"{where}: a mask must be a non-empty HxW array, got shape {value.shape}")
    if array.shape[0] * array.shape[1] > config.max_image_pixels:
        raise InputError(
            f"{where}: the mask is over the limit of {config.max_image_pixels} pixels (max_image_pixels)"
        )
    if array.dtype != np.bool_:
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise InputError(f"{where}: a mask must hold booleans or numbers, got {array.dtype}")
        values = np.unique(array)
        if not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, 255}):
            shown = ", ".join(f"{v:g}" for v in values[:6].tolist())
            raise InputError(
                f"{where}: a mask must be binary (only 0 and 1, or only 0 and 255), but it holds "
                f"{len(values)} values ({shown}{', …' if len(values) > 6 else ''}); threshold it first, "
                "e.g. mask > 127"
            )
        array = array > 0
    if not array.any():
        raise InputError(f"{where}: the mask is empty (no pixel is set)")
    return np.ascontiguousarray(array)


def _open_image(where: str, value: Any, config: ReactorConfig) -> Image.Image:
    if isinstance(value, (str, os.PathLike)):
        path = Path(value).expanduser()
        if not path.is_file():
            raise InputError(f"{where}: {path} {'is not a file' if path.exists() else 'does not exist'}")
        value = path.read_bytes()
    data = bytes(value)
    if len(data) > config.max_image_bytes:
        raise InputError(f"{where}: {len(data)} bytes is over the limit (max_image_bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{where}: not an image file PIL can read ({err})") from None


def _box_items(where: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"{where}: boxes must be a non-empty list of [x0, y0, x1, y1] boxes")
    items = []
    for index, entry in enumerate(value):
        item = dict(entry) if isinstance(entry, Mapping) else {"box": entry}
        box = item.get("box")
        if (
            not isinstance(box, (list, tuple))
            or len(box) != 4
            or not all(isinstance(v, (int, float, np.integer)) and not isinstance(v, bool) for v in box)
            or not all(float(v).is_integer() for v in box)
        ):
            raise InputError(
                f"{where}: box {index} must be four integer pixel coordinates [x0, y0, x1, y1], got {box!r}"
            )
        item["box"] = [int(v) for v in box]
        if "label" in item and not isinstance(item["label"], str):
            raise InputError(f"{where}: box {index}'s label must be a string, got {item['label']!r}")
        unknown = set(item) - {"box", "label", "score"}
        if unknown:
            raise InputError(
                f"{where}: box {index} has unknown keys {sorted(unknown)}; use box, label, score"
            )
        items.append(item)
    return items
