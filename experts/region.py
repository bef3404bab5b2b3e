"""Region: box arithmetic relative to the image (halves, thirds, corners) or to a box (left of, above, …).

VisProg's ``CROP_LEFTOF(box)`` and friends are one step: the region's box, and its crop.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from experts._geometry import BOX_DESCRIPTION, Box, size_text
from experts.base import Expert, ExpertError, ImageRef, NewImage

ImagePart = Literal[
    "left", "right", "top", "bottom", "top_left", "top_right", "bottom_left", "bottom_right", "center"
]
BoxSide = Literal["left_of", "right_of", "above", "below"]
BOX_SIDES = ("left_of", "right_of", "above", "below")


class RegionInput(BaseModel):
    image: ImageRef = Field(description="the image the region is taken from")
    part: ImagePart | BoxSide = Field(
        description="of the image: 'left', 'right', 'top', 'bottom' (a half or a third, see 'fraction'), "
        "a corner 'top_left' … 'bottom_right', or the 'center'; relative to 'box': 'left_of', "
        "'right_of', 'above', 'below' (everything on that side of the box, to the image's edge)"
    )
    fraction: Literal["half", "third"] = Field(
        default="half",
        description="for image parts: how much of the width/height the part spans (a corner: of both)",
    )
    box: Box | None = Field(
        default=None,
        description="required for left_of/right_of/above/below, unused otherwise: the reference box, "
        + BOX_DESCRIPTION
        + " (a box reaching past the image is clamped to it)",
    )
    band: bool = Field(
        default=False,
        description="left_of/right_of: keep only the box's rows; above/below: only its columns "
        "(false: the full height/width of the image)",
    )
    crop: bool = Field(default=True, description="also return the region cropped out as a new image")

    @model_validator(mode="after")
    def _box_when_needed(self) -> RegionInput:
        if self.part in BOX_SIDES and self.box is None:
            raise ValueError(f"part '{self.part}' needs 'box': the [x0, y0, x1, y1] it is relative to")
        if self.part not in BOX_SIDES and self.box is not None:
            raise ValueError(
                f"'box' is only used with left_of/right_of/above/below, not '{self.part}'; leave it out"
            )
        return self


class RegionOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    box: list[int] = Field(description="[x0, y0, x1, y1] of the region in the image's pixels")
    image: NewImage | None = Field(default=None, description="the region cropped out (when crop is true)")


def image_part(part: str, fraction: str, width: int, height: int) -> list[int]:
    """The box of a half/third/corner/centre of a ``width`` x ``height`` image."""
    n = 2 if fraction == "half" else 3
    w, h = max(1, round(width / n)), max(1, round(height / n))
    if part == "center":
        x0, y0 = (width - w) // 2, (height - h) // 2
        return [x0, y0, x0 + w, y0 + h]
    x0, x1 = (0, w) if "left" in part else (width - w, width) if "right" in part else (0, width)
    y0, y1 = (0, h) if "top" in part else (height - h, height) if "bottom" in part else (0, height)
    return [x0, y0, x1, y1]


def clamp(box: list[int], width: int, height: int) -> list[int]:
    """``box`` clipped to the image; an ExpertError when nothing of it is inside or it is reversed."""
    x0, y0, x1, y1 = box
    if x0 >= x1 or y0 >= y1:
        raise ExpertError(f"box {box} is empty or reversed; give [x0, y0, x1, y1] with x0 < x1 and y0 < y1")
    clamped = [max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)]
    if clamped[0] >= clamped[2] or clamped[1] >= clamped[3]:
        raise ExpertError(
            f"box {box} lies outside the {size_text(width, height)} image; give a box inside it"
        )
    return clamped


def beside(side: str, box: list[int], band: bool, width: int, height: int) -> list[int]:
    """Everything on ``side`` of ``box`` up to the image's edge (``band``: within the box's rows/columns)."""
    x0, y0, x1, y1 = clamp(box, width, height)
    top, bottom = (y0, y1) if band else (0, height)
    left, right = (x0, x1) if band else (0, width)
    region = {
        "left_of": [0, top, x0, bottom],
        "right_of": [x1, top, width, bottom],
        "above": [left, 0, right, y0],
        "below": [left, y1, right, height],
    }[side]
    if region[0] >= region[2] or region[1] >= region[3]:
        edge = {"left_of": "left", "right_of": "right", "above": "top", "below": "bottom"}[side]
        raise ExpertError(
            f"nothing lies {side.replace('_', ' ')} box {box}: it touches the image's {edge} edge "
            f"({size_text(width, height)} image)"
        )
    return region


class Region(Expert[RegionInput, RegionOutput]):
    name = "region"
    description = (
        "Get a region of an image as a box and (by default) a crop: a half or third of it ('left', "
        "'right', 'top', 'bottom' with 'fraction'), a corner or the 'center'; or everything "
        "'left_of', 'right_of', 'above' or 'below' a given 'box' (e.g. a detection), clamped to the "
        "image ('band' keeps only the box's rows or columns). Use it for questions about what is to "
        "the left of an object or in the top half of a picture."
    )
    Input = RegionInput
    Output = RegionOutput

    def run(self, inputs: RegionInput) -> RegionOutput:
        image = inputs.image
        if inputs.part in BOX_SIDES:
            box = beside(inputs.part, list(inputs.box or []), inputs.band, image.width, image.height)
        else:
            box = image_part(inputs.part, inputs.fraction, image.width, image.height)
        crop = None
        if inputs.crop:
            x0, y0, x1, y1 = box
            pixels = image.array if image.alpha is None else np.dstack([image.array, image.alpha])
            crop = NewImage(pixels[y0:y1, x0:x1].copy())  # a cut-out's crop stays transparent
        return RegionOutput(box=box, image=crop)
