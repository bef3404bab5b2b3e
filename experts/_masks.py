"""Shared by the mask-effect experts (cutout, replace_background, color_pop, blur_region): a mask
argument that takes one handle or several, their union checked against the image, and its box.

A plan may pass every mask of a segment step (``<step-1>``) where one or more masks are asked for;
these experts use the union of the masks they are given.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BeforeValidator, Field

from experts._geometry import size_text
from experts.base import ExpertError, ImageData, MaskData, MaskRef

__all__ = ["Masks", "mask_box", "union_of"]

MAX_MASKS = 64


def _one_or_many(value: Any) -> Any:
    """A single handle is a list of one."""
    return [value] if isinstance(value, str | MaskData) else value


Masks = Annotated[
    list[MaskRef],
    BeforeValidator(_one_or_many),
    Field(min_length=1, max_length=MAX_MASKS),
]
"""One mask handle (``"mask-1"``) or a list of them; the expert gets a list of :class:`MaskData`."""


def union_of(masks: list[MaskData], image: ImageData) -> np.ndarray:
    """The HxW bool union of ``masks``, each checked to have ``image``'s size."""
    union = np.zeros((image.height, image.width), dtype=bool)
    for mask in masks:
        if (mask.width, mask.height) != (image.width, image.height):
            raise ExpertError(
                f"mask {mask.handle} is {size_text(mask.width, mask.height)} but image {image.handle} is "
                f"{size_text(image.width, image.height)}; use masks made from this image "
                "(or the image the masks were made from)"
            )
        union |= mask.array.astype(bool, copy=False)
    return union


def mask_box(mask: np.ndarray, what: str) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` (end exclusive) around the mask's pixels; an ExpertError when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ExpertError(f"{what} is empty (no pixel is set); segment the object again or use another mask")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
