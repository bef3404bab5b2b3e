"""Turn user images (paths, PIL images, numpy arrays, bytes) into checked RGB arrays.

Everything is decoded and checked before any work starts, so a bad input raises
:class:`InputError` and nothing is written.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from orchestrator.errors import InputError

__all__ = ["ImageInput", "decode_image", "decode_images"]

ImageInput = str | os.PathLike | Image.Image | np.ndarray | bytes | bytearray | memoryview


def decode_images(images: Any, *, max_pixels: int, max_bytes: int) -> list[np.ndarray]:
    """Decode every image or raise :class:`InputError` naming the offending one."""
    if images is None:
        return []
    if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray, bytes, bytearray, memoryview)):
        images = [images]
    decoded = []
    for index, item in enumerate(images, start=1):
        try:
            decoded.append(decode_image(item, max_pixels=max_pixels, max_bytes=max_bytes))
        except InputError as err:
            raise InputError(f"image {index} of {len(images)}: {err}") from None
    return decoded


def decode_image(item: Any, *, max_pixels: int, max_bytes: int) -> np.ndarray:
    """One image → HxWx3 uint8 RGB array."""
    if isinstance(item, np.ndarray):
        return _from_array(item, max_pixels)
    if isinstance(item, Image.Image):
        _check_pixels(item.size, max_pixels, "the PIL image")
        return np.asarray(item.convert("RGB")).copy()
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        return _from_bytes(data, max_pixels, max_bytes, f"the {len(data)} bytes given")
    if isinstance(item, (str, os.PathLike)):
        path = Path(item).expanduser()
        if not path.exists():
            raise InputError(f"{path} does not exist; check the path")
        if not path.is_file():
            raise InputError(f"{path} is not a file; pass an image file")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"{path} is {size} bytes, over the {max_bytes}-byte limit (max_image_bytes)")
        return _from_bytes(path.read_bytes(), max_pixels, max_bytes, str(path))
    raise InputError(
        f"cannot use a {type(item).__name__} as an image; pass a file path, PIL image, numpy array or bytes"
    )


def _check_pixels(size: tuple[int, int], max_pixels: int, what: str) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise InputError(f"{what} is empty ({width}x{height})")
    if width * height > max_pixels:
        raise InputError(
            f"{what} is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} "
            "(max_image_pixels); downscale it or raise the limit in the config"
        )


def _from_bytes(data: bytes, max_pixels: int, max_bytes: int, what: str) -> np.ndarray:
    if len(data) > max_bytes:
        raise InputError(f"{what}: {len(data)} bytes is over the {max_bytes}-byte limit (max_image_bytes)")
    if not data:
        raise InputError(f"{what} is empty; pass an image file's bytes")
    try:
        with Image.open(io.BytesIO(data)) as img:
            _check_pixels(img.size, max_pixels, what)
            img.load()
            upright = ImageOps.exif_transpose(img)
            return np.asarray(upright.convert("RGB")).copy()
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{what} is not an image PIL can read (PNG, JPEG, WebP, …)") from None
    except Image.DecompressionBombError as err:
        raise InputError(
            f"{what} was refused: its size is over the limit for safe decoding (decompression bomb?): {err}"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{what} is truncated or corrupt ({err}); re-export or re-download it") from None


def _from_array(array: np.ndarray, max_pixels: int) -> np.ndarray:
    if array.dtype != np.uint8:
        raise InputError(
            f"a numpy image must be uint8, got {array.dtype}; convert it, e.g. (x * 255).astype(np.uint8)"
        )
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    elif not (array.ndim == 3 and array.shape[2] == 3):
        raise InputError(f"a numpy image must be HxW, HxWx3 or HxWx4, got shape {array.shape}")
    _check_pixels((array.shape[1], array.shape[0]), max_pixels, "the numpy image")
    return np.ascontiguousarray(array).copy()
