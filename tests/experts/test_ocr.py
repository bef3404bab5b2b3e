"""The OCR expert with the real RapidOCR models (they ship in the rapidocr wheel; no network)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydantic import ValidationError

from experts.base import ImageData, NewBoxes
from experts.ocr import Ocr

# (text, top-left corner where it is drawn); "CAKES" shares the second row with "FRESH BREAD"
SIGN = [
    ("OPEN 9AM - 5PM", (40, 30)),
    ("FRESH BREAD", (40, 130)),
    ("CAKES", (460, 135)),
]
READING_ORDER = ["OPEN 9AM - 5PM", "FRESH BREAD", "CAKES"]


@pytest.fixture(scope="module")
def ocr() -> Ocr:
    expert = Ocr()
    expert.setup()
    return expert


@pytest.fixture(scope="module")
def sign() -> tuple[np.ndarray, dict[str, tuple[float, float, float, float]]]:
    """A 640x240 sign: dark blue text on a pale yellow background, and where each text was drawn."""
    canvas = Image.new("RGB", (640, 240), (250, 240, 200))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=40)
    drawn = {}
    for text, xy in SIGN:
        draw.text(xy, text, fill=(20, 30, 120), font=font)
        drawn[text] = draw.textbbox(xy, text, font=font)
    return np.asarray(canvas), drawn


def read(ocr: Ocr, array: np.ndarray):
    return ocr.run(Ocr.Input.model_validate({"image": ImageData("image-1", array)}))


def test_reads_the_sign_in_reading_order(ocr: Ocr, sign) -> None:
    array, _ = sign
    out = read(ocr, array)
    assert isinstance(out.lines, NewBoxes)
    assert [item["text"] for item in out.lines.items] == READING_ORDER
    assert out.text == "\n".join(READING_ORDER)
    assert out.image_size == [640, 240]


def test_boxes_enclose_the_drawn_text(ocr: Ocr, sign) -> None:
    array, drawn = sign
    for item in read(ocr, array).lines.items:
        x0, y0, x1, y1 = item["box"]
        tx0, ty0, tx1, ty1 = drawn[item["text"]]
        assert all(isinstance(v, int) for v in item["box"])
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 240
        # encloses the drawn glyphs (2 px slack for anti-aliased edges), and not by much more
        assert x0 <= tx0 + 2 and y0 <= ty0 + 2 and x1 >= tx1 - 2 and y1 >= ty1 - 2, (
            item,
            drawn[item["text"]],
        )
        assert tx0 - x0 < 15 and ty0 - y0 < 15 and x1 - tx1 < 15 and y1 - ty1 < 15, (
            item,
            drawn[item["text"]],
        )
        polygon = item["polygon"]
        assert len(polygon) == 4 and all(len(p) == 2 and all(isinstance(v, int) for v in p) for p in polygon)
        assert min(p[0] for p in polygon) >= x0 and max(p[0] for p in polygon) <= x1
        assert min(p[1] for p in polygon) >= y0 and max(p[1] for p in polygon) <= y1
        assert 0.5 <= item["score"] <= 1.0 and item["score"] == round(item["score"], 3)


def test_blank_image_gives_no_lines(ocr: Ocr) -> None:
    out = read(ocr, np.full((240, 320, 3), 255, dtype=np.uint8))
    assert out.lines.items == []
    assert out.text == ""
    assert out.image_size == [320, 240]


def test_tiny_image_is_not_an_error(ocr: Ocr) -> None:
    out = read(ocr, np.zeros((3, 5, 3), dtype=np.uint8))
    assert out.lines.items == [] and out.image_size == [5, 3]


def test_reads_a_crop_at_its_own_coordinates(ocr: Ocr, sign) -> None:
    array, drawn = sign
    x0, y0, x1, y1 = drawn["CAKES"]
    crop = np.ascontiguousarray(array[y0 - 20 : y1 + 20, x0 - 20 : x1 + 20])
    out = read(ocr, crop)
    assert [item["text"] for item in out.lines.items] == ["CAKES"]
    box = out.lines.items[0]["box"]
    assert box[0] <= 22 and box[1] <= 22


def test_settings_are_checked() -> None:  # defaults, unknown keys: test_contract.py
    with pytest.raises(ValidationError):
        Ocr.Settings.model_validate({"limit_type": "biggest"})


def test_min_score_drops_weaker_lines(ocr: Ocr, sign) -> None:
    array, _ = sign
    scores = [item["score"] for item in read(ocr, array).lines.items]
    threshold = min(scores) + 0.001  # above the weakest line's raw score
    strict = copy.copy(ocr)  # same engine, stricter settings
    strict.settings = ocr.settings.model_copy(update={"min_score": threshold})
    kept = read(strict, array).lines.items
    assert len(kept) < len(scores)
    assert all(item["score"] >= threshold - 0.0005 for item in kept)
