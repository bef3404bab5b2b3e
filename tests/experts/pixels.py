"""Small images, masks and a direct call (no Ray) for the tests of the weight-free image experts."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from experts.base import Expert, ImageData, MaskData

__all__ = ["call", "gradient_image", "image", "mask", "rect_mask", "sign"]


def gradient_image(width: int = 64, height: int = 48) -> np.ndarray:
    """An RGB image whose every pixel is distinct: R = x, G = y, B = (x + y) % 256."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=2).astype(np.uint8)


def rect_mask(box: tuple[int, int, int, int], width: int = 64, height: int = 48) -> np.ndarray:
    """An HxW bool mask set inside ``box`` = (x0, y0, x1, y1), end exclusive."""
    array = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = box
    array[y0:y1, x0:x1] = True
    return array


def image(array: np.ndarray, handle: str = "image-1") -> ImageData:
    return ImageData(handle, array)


def mask(array: np.ndarray, handle: str = "mask-1") -> MaskData:
    return MaskData(handle, array)


def call(expert_cls: type[Expert], **arguments: Any) -> Any:
    """Validate ``arguments`` against the expert's Input and run it once, as a replica would."""
    expert = expert_cls()
    expert.setup()
    return expert.run(expert_cls.Input.model_validate(arguments))


def sign() -> np.ndarray:
    """A white sign with three lines of dark text the OCR expert reads: EXIT NORTH, OPEN DAILY, EXIT SOUTH."""
    picture = Image.new("RGB", (520, 300), "white")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=40)
    for row, line in enumerate(["EXIT NORTH", "OPEN DAILY", "EXIT SOUTH"]):
        draw.text((30, 30 + row * 90), line, fill=(20, 20, 20), font=font)
    return np.asarray(picture)
