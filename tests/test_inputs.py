"""Input images: every accepted form decodes to RGB; every bad one gets a clear InputError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from orchestrator.errors import InputError
from orchestrator.inputs import decode_image, decode_images

LIMITS = {"max_pixels": 10_000, "max_bytes": 1_000_000}


def png_bytes(width=20, height=10, mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def noisy_png(size=64) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_accepted_forms(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes())
    forms = [
        path,
        str(path),
        Image.open(path),
        png_bytes(),
        bytearray(png_bytes()),
        np.zeros((10, 20, 3), np.uint8),
        np.zeros((10, 20), np.uint8),
        np.zeros((10, 20, 4), np.uint8),
        png_bytes(mode="L"),
        png_bytes(mode="RGBA"),
        png_bytes(mode="P"),
    ]
    for form in forms:
        array = decode_image(form, **LIMITS)
        assert array.shape == (10, 20, 3) and array.dtype == np.uint8, type(form)


def test_jpeg_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (30, 10), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert decode_image(buffer.getvalue(), **LIMITS).shape == (30, 10, 3)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("/no/such/file.png", "does not exist"),
        (b"", "empty"),
        (b"GIF89a but not really", "not an image"),
        (noisy_png()[: len(noisy_png()) // 2], "truncated or corrupt"),
        (png_bytes(200, 100), "over the limit of 10000"),
        (np.zeros((10, 10, 3), np.float64), "must be uint8"),
        (np.zeros((10, 10, 2), np.uint8), "HxW, HxWx3 or HxWx4"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (12, "cannot use a int"),
    ],
)
def test_bad_inputs(item, message):
    with pytest.raises(InputError, match=message):
        decode_image(item, **LIMITS)


def test_directory_and_oversized_file(tmp_path):
    with pytest.raises(InputError, match="not a file"):
        decode_image(tmp_path, **LIMITS)
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes())
    with pytest.raises(InputError, match="byte limit"):
        decode_image(big, max_pixels=10_000, max_bytes=10)


def test_decompression_bomb_is_refused_before_decoding():
    # A 20000x20000 PNG header with almost no data: the size check fires before any pixel is decoded.
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG")
    with pytest.raises(InputError, match="over the limit"):
        decode_image(buffer.getvalue(), max_pixels=40_000_000, max_bytes=10_000_000)


def test_errors_name_which_image():
    with pytest.raises(InputError, match="image 2 of 2"):
        decode_images([png_bytes(), b"junk"], **LIMITS)
    assert decode_images(None, **LIMITS) == []
    assert len(decode_images(png_bytes(), **LIMITS)) == 1
