"""Turn what a caller passes as ``images=`` into checked RGB arrays, before any work starts.

``images`` is one image or a list (or tuple) of them; each image is decoded by
:mod:`orchestrator.image_decoding`. Anything else — a number, a generator, a set, a dict — raises
:class:`InputError` naming what was given and what is accepted, so a bad input fails before anything
is written.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image

from orchestrator.errors import InputError
from orchestrator.image_decoding import ACCEPTED, IMAGE_TYPES, decode_image

__all__ = ["ImageInput", "decode_image", "decode_images", "image_list"]

ImageInput = str | os.PathLike | Image.Image | np.ndarray | bytes | bytearray | memoryview


def image_list(images: Any, argument: str = "images") -> list[Any]:
    """The images of an ``images=`` argument as a list (not decoded yet); :class:`InputError` otherwise."""
    if images is None:
        return []
    if isinstance(images, IMAGE_TYPES):
        return [images]
    if isinstance(images, (list, tuple)):
        return list(images)
    given = type(images).__name__
    hint = "; pass list(...) of it" if hasattr(images, "__next__") else ""
    raise InputError(
        f"{argument} must be one image or a list of images, got a {given}{hint}; an image is {ACCEPTED}"
    )


def decode_images(images: Any, *, max_pixels: int, max_bytes: int) -> list[np.ndarray]:
    """Decode every image or raise :class:`InputError` naming the offending one."""
    items = image_list(images)
    decoded = []
    for index, item in enumerate(items, start=1):
        try:
            decoded.append(decode_image(item, max_pixels=max_pixels, max_bytes=max_bytes))
        except InputError as err:
            raise InputError(f"image {index} of {len(items)}: {err}") from None
    return decoded
