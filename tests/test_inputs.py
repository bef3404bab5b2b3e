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
        (np.full((10, 10, 3), np.nan), "NaN or infinite"),
        (np.zeros((10, 10, 3), np.complex64), "holds complex64 values"),
        (np.zeros((10, 10, 5), np.uint8), "HxW, HxWx1, HxWx2, HxWx3 or HxWx4"),
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


def _png_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_16_bit_png_keeps_its_contrast():
    # mid-grey text (30000) on a light background (60000): 8-bit clipping made both white
    page = np.full((10, 20), 60000, np.uint16)
    page[3:6, 4:15] = 30000
    data = _png_of(page)
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    pixels = decode_image(data, **LIMITS)
    assert pixels[4, 5].tolist() == [117, 117, 117] and pixels[0, 0].tolist() == [233, 233, 233]


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[0, 4095]], np.uint16), [0, 255]),  # 12-bit data in 16 bits: read on 12 bits
        (np.array([[0, 65535]], np.uint16), [0, 255]),
        (np.array([[0, 200]], np.int64), [0, 200]),  # 8-bit values in a wide integer type stay
        (np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255]),  # floats in [0, 1]
        (np.array([[0.0, 100.0, 255.0]], np.float64), [0, 100, 255]),  # floats on the 8-bit scale
        (np.array([[-1.0, 0.0, 1000.0]], np.float64), [0, 0, 255]),  # anything else: min to max
        (np.array([[-5, 5]], np.int16), [0, 255]),
        (np.array([[False, True]]), [0, 255]),
    ],
)
def test_wide_and_float_pixels_are_scaled_by_their_range(array, expected):
    pixels = decode_image(array, **LIMITS)
    assert pixels.dtype == np.uint8 and pixels.shape == (*array.shape, 3)
    assert pixels[0, :, 0].tolist() == expected


def test_every_pil_mode_decodes():
    modes = list(getattr(Image, "MODES", []))
    assert len(modes) >= 15, modes
    for mode in modes:
        decoded = decode_image(Image.new(mode, (20, 10)), **LIMITS)
        assert decoded.shape == (10, 20, 3) and decoded.dtype == np.uint8, mode


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("La", (100, 255), [100, 100, 100]),  # premultiplied grey + alpha: PIL cannot make L of it
        ("LA", (100, 0), [255, 255, 255]),  # transparent: shown over white
        ("RGBA", (255, 0, 0, 255), [255, 0, 0]),
        ("RGBA", (0, 0, 0, 0), [255, 255, 255]),
        ("HSV", (0, 255, 255), [255, 0, 0]),
        ("CMYK", (0, 255, 255, 0), [255, 0, 0]),
        ("I;16", 65535, [255, 255, 255]),
        ("I", 1023, [255, 255, 255]),  # the largest 10-bit value
        ("F", 0.5, [128, 128, 128]),
    ],
)
def test_pil_modes_keep_what_they_show(mode, colour, expected):
    decoded = decode_image(Image.new(mode, (4, 3), colour), **LIMITS)
    assert decoded[1, 1].tolist() == expected


def test_a_palette_image_with_a_transparent_colour_is_shown_over_white():
    image = Image.new("P", (4, 3), 1)
    image.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)
    image.info["transparency"] = 1
    assert decode_image(image, **LIMITS)[0, 0].tolist() == [255, 255, 255]


def test_a_lazily_opened_truncated_file_is_an_input_error(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(noisy_png()[: len(noisy_png()) // 2])
    lazy = Image.open(path)  # PIL reads only the header here
    with pytest.raises(InputError, match="truncated or corrupt"):
        decode_image(lazy, **LIMITS)


def test_a_given_array_is_never_shared():
    array = np.zeros((10, 20, 3), np.uint8)
    decoded = decode_image(array, **LIMITS)
    decoded[0, 0] = 255
    assert array[0, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (42, "got a int"),
        (object(), "got a object"),
        (np.uint8(5), "got a uint8"),
        ((p for p in [png_bytes()]), "got a generator; pass list"),
        ({png_bytes()}, "got a set"),
        ({"a": png_bytes()}, "got a dict"),
        ([png_bytes(), 42], "image 2 of 2: cannot use a int as an image"),
        ([np.uint8(5)], "a numpy scalar"),
    ],
)
def test_every_wrong_argument_type_is_an_input_error(images, message):
    with pytest.raises(InputError, match=message) as caught:
        decode_images(images, **LIMITS)
    assert "file path" in str(caught.value)  # it says what is accepted
