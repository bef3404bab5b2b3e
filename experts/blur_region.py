"""Blur region: blur or pixelate the pixels of masks or boxes (faces, plates), or everything else."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from experts._geometry import Box, check_box_inside
from experts._masks import Masks, union_of
from experts.base import Expert, ImageData, ImageRef, NewImage


class BlurRegionInput(BaseModel):
    image: ImageRef = Field(description="the image to blur (it is not changed; a new image is made)")
    masks: Masks | None = Field(
        default=None, description="mask handle(s) of the region to blur ('mask-1' or a list: their union)"
    )
    boxes: list[Box] | None = Field(
        default=None,
        max_length=256,
        description="or: boxes of the region to blur, [[x0, y0, x1, y1], ...] in pixels inside the image",
    )
    style: Literal["blur", "pixelate"] = Field(
        default="blur", description="'blur': Gaussian blur; 'pixelate': large square blocks (anonymising)"
    )
    strength: int = Field(
        default=15,
        ge=1,
        le=200,
        description="blur: the Gaussian sigma in pixels; pixelate: the block size in pixels",
    )
    invert: bool = Field(
        default=False, description="true: blur everything except the region (keep the subject sharp)"
    )

    @model_validator(mode="after")
    def _one_region(self) -> BlurRegionInput:
        if (self.masks is None) == (self.boxes is None):
            raise ValueError("give the region to blur as either 'masks' or 'boxes' (exactly one of them)")
        if self.boxes is not None and not self.boxes:
            raise ValueError("'boxes' is empty; give at least one box [x0, y0, x1, y1]")
        return self


class BlurRegionOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="the image with the region blurred or pixelated")
    blurred_fraction: float = Field(description="fraction of the image that was blurred (0..1)")


def pixelate(array: np.ndarray, block: int) -> np.ndarray:
    """``array`` made of ``block`` x ``block`` squares, each the mean colour of its pixels."""
    height, width = array.shape[:2]
    small = cv2.resize(
        array, (max(1, -(-width // block)), max(1, -(-height // block))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def region_of(inputs: BlurRegionInput, image: ImageData) -> np.ndarray:
    """The HxW bool region the call names (masks' union, or the boxes' pixels)."""
    if inputs.masks is not None:
        return union_of(inputs.masks, image)
    region = np.zeros((image.height, image.width), dtype=bool)
    for i, box in enumerate(inputs.boxes or []):
        x0, y0, x1, y1 = check_box_inside(box, image.width, image.height, name=f"boxes[{i}]")
        region[y0:y1, x0:x1] = True
    return region


class BlurRegion(Expert[BlurRegionInput, BlurRegionOutput]):
    name = "blur_region"
    description = (
        "Blur or pixelate part of an image: the region given by 'masks' (handles, e.g. from segment) "
        "or by 'boxes' [[x0, y0, x1, y1], ...] (e.g. faces or plates from detect), to anonymise or "
        "de-emphasise it; 'invert' blurs everything else instead (subject stays sharp). 'style' blur "
        "or pixelate, 'strength' in pixels. Returns the new image."
    )
    Input = BlurRegionInput
    Output = BlurRegionOutput

    def run(self, inputs: BlurRegionInput) -> BlurRegionOutput:
        image = inputs.image
        region = region_of(inputs, image)
        if inputs.invert:
            region = ~region
        if inputs.style == "pixelate":
            blurred = pixelate(image.array, inputs.strength)
        else:
            blurred = cv2.GaussianBlur(image.array, (0, 0), inputs.strength)
        out = np.where(region[:, :, None], blurred, image.array)
        fraction = float(np.count_nonzero(region)) / region.size
        return BlurRegionOutput(
            image=NewImage(np.ascontiguousarray(out)), blurred_fraction=round(fraction, 4)
        )
