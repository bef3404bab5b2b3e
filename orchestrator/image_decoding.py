"""Decode one user image (a path, PIL image, numpy array or encoded bytes) into checked RGB pixels.

Every image becomes an HxWx3 ``uint8`` array, keeping what it shows:

- any PIL mode converts (1, L, P, RGB, CMYK, YCbCr, LAB, HSV, I, I;16*, F, and those with alpha:
  LA, La, PA, RGBA, RGBa, RGBX, P with a transparent colour);
- 16-bit, 32-bit and float pixels are scaled into 8 bits by their range (:func:`to_uint8`), so a
  16-bit scan keeps its text instead of clipping to white;
- transparent pixels are shown over white, as an image viewer shows them.

Anything else raises :class:`~orchestrator.errors.InputError` saying what was wrong and what to do.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from orchestrator.errors import InputError

__all__ = ["IMAGE_TYPES", "decode_image", "to_uint8"]

IMAGE_TYPES = (str, os.PathLike, Image.Image, np.ndarray, bytes, bytearray, memoryview)
"""The Python types one image may be given as."""
ACCEPTED = "a file path, a PIL image, a numpy array (HxW, HxWx1-4) or an image file's bytes"
_NUMERIC_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


def decode_image(item: Any, *, max_pixels: int, max_bytes: int) -> np.ndarray:
    """One image → HxWx3 uint8 RGB array; :class:`InputError` when it cannot be used."""
    if isinstance(item, np.ndarray):
        return _from_array(item, max_pixels)
    if isinstance(item, Image.Image):
        _check_pixels(item.size, max_pixels, "the PIL image")
        return _from_pil(item, "the PIL image")
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        return _from_bytes(data, max_pixels, max_bytes, f"the {len(data)} bytes given")
    if isinstance(item, (str, os.PathLike)):
        return _from_path(Path(item).expanduser(), max_pixels, max_bytes)
    if isinstance(item, np.generic):
        raise InputError(f"a numpy scalar ({type(item).__name__} {item!r}) is not an image; pass {ACCEPTED}")
    raise InputError(f"cannot use a {type(item).__name__} as an image; pass {ACCEPTED}")


def to_uint8(array: np.ndarray, what: str) -> np.ndarray:
    """Pixel values of any real type as uint8, scaled by their range.

    - ``uint8`` stays; ``bool`` becomes 0/255.
    - Non-negative integers are read on the smallest bit depth (8 or more) that holds their largest
      value: 16-bit data is divided by 257, 12-bit data (up to 4095) by about 16, and wider integers
      holding 0-255 stay as they are.
    - Floats in [0, 1] are multiplied by 255; floats in [0, 255] stay on that scale.
    - Anything else (negative values, floats beyond 255) is stretched from its minimum to its maximum.
    """
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"{what} holds {array.dtype} values; pass real numbers (uint8, uint16, float …)")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise InputError(f"{what} contains NaN or infinite values; replace them before passing it")
    low, high = float(values.min()), float(values.max())
    if np.issubdtype(array.dtype, np.integer) and low >= 0:
        bits = max(8, int(high).bit_length())
        scaled = values * (255.0 / (2**bits - 1))
    elif low >= 0 and high <= 1:
        scaled = values * 255.0
    elif low >= 0 and high <= 255:
        scaled = values
    else:
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _check_pixels(size: tuple[int, int], max_pixels: int, what: str) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise InputError(f"{what} is empty ({width}x{height})")
    if width * height > max_pixels:
        raise InputError(
            f"{what} is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} "
            "(max_image_pixels); downscale it or raise the limit in the config"
        )


def _over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``rgb`` (HxWx3 uint8) shown over a white background through ``alpha`` (HxW uint8)."""
    if alpha.min() == 255:
        return rgb
    weight = alpha.astype(np.float32)[..., None] / 255.0
    shown = rgb.astype(np.float32) * weight + 255.0 * (1.0 - weight)
    return np.clip(np.rint(shown), 0, 255).astype(np.uint8)


def _from_pil(img: Image.Image, what: str) -> np.ndarray:
    try:
        img.load()
        if img.mode in _NUMERIC_MODES:  # one channel of 16/32-bit integers or floats
            return _from_array(np.asarray(img), None, what)
        if img.mode == "La":  # premultiplied alpha: PIL converts it only to LA
            img = img.convert("LA")
        if img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info):
            rgba = np.asarray(img.convert("RGBA"))
            return _over_white(np.ascontiguousarray(rgba[..., :3]), rgba[..., 3])
        return np.asarray(img.convert("RGB")).copy()
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{what} is truncated or corrupt ({err}); re-export or re-download it") from None


def _from_path(path: Path, max_pixels: int, max_bytes: int) -> np.ndarray:
    if not path.exists():
        raise InputError(f"{path} does not exist; check the path")
    if not path.is_file():
        raise InputError(f"{path} is not a file; pass an image file")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"{path} is {size} bytes, over the {max_bytes}-byte limit (max_image_bytes)")
    return _from_bytes(path.read_bytes(), max_pixels, max_bytes, str(path))


def _from_bytes(data: bytes, max_pixels: int, max_bytes: int, what: str) -> np.ndarray:
    if len(data) > max_bytes:
        raise InputError(f"{what}: {len(data)} bytes is over the {max_bytes}-byte limit (max_image_bytes)")
    if not data:
        raise InputError(f"{what} is empty; pass an image file's bytes")
    try:
        with Image.open(io.BytesIO(data)) as img:
            _check_pixels(img.size, max_pixels, what)
            img.load()
            return _from_pil(ImageOps.exif_transpose(img), what)
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


def _from_array(array: np.ndarray, max_pixels: int | None, what: str = "the numpy image") -> np.ndarray:
    if array.ndim == 3 and array.shape[2] in (1, 2, 3, 4):
        channels = array.shape[2]
    elif array.ndim == 2:
        channels = 0
    else:
        raise InputError(f"{what} must be HxW, HxWx1, HxWx2, HxWx3 or HxWx4, got shape {array.shape}")
    if max_pixels is not None:
        _check_pixels((array.shape[1], array.shape[0]), max_pixels, what)
    elif array.size == 0:
        raise InputError(f"{what} is empty ({array.shape[1]}x{array.shape[0]})")
    pixels = to_uint8(array, what)
    if channels in (0, 1, 2):
        grey = pixels if channels == 0 else pixels[..., 0]
        rgb = np.repeat(grey[..., None], 3, axis=2)
        return _over_white(rgb, pixels[..., 1]) if channels == 2 else rgb
    rgb = np.ascontiguousarray(pixels[..., :3])
    if channels == 4:
        rgb = _over_white(rgb, pixels[..., 3])
    return rgb.copy() if np.shares_memory(rgb, array) else rgb  # never the caller's own buffer
