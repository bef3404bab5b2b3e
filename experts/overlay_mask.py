"""Overlay mask: tint the pixels of a mask on a copy of an image."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts._geometry import Color, parse_color, size_text
from experts.base import Expert, ExpertError, ImageRef, MaskRef, NewImage


class OverlayMaskInput(BaseModel):
    image: ImageRef = Field(description="the image to tint (it is not changed; a new image is made)")
    mask: MaskRef = Field(description="the mask to show; it must have the same size as the image")
    color: Color = Field(default="red", description="tint color: a name like 'red' or '#rrggbb'")
    alpha: float = Field(
        default=0.5, ge=0.0, le=1.0, description="tint strength: 0 leaves the image, 1 paints solid color"
    )


class OverlayMaskOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="a copy of the image with the mask's pixels tinted")
    mask_fraction: float = Field(description="fraction of the image covered by the mask (0..1)")


class OverlayMask(Expert[OverlayMaskInput, OverlayMaskOutput]):
    name = "overlay_mask"
    description = (
        "Show a mask on its image: tints the mask's pixels with 'color' at opacity 'alpha' (0..1) "
        "on a copy of the image. Returns the new image and the fraction of the image the mask "
        "covers. Use it to show the user a segmentation result."
    )
    Input = OverlayMaskInput
    Output = OverlayMaskOutput

    def run(self, inputs: OverlayMaskInput) -> OverlayMaskOutput:
        image, mask = inputs.image, inputs.mask
        if (mask.width, mask.height) != (image.width, image.height):
            raise ExpertError(
                f"mask {mask.handle} is {size_text(mask.width, mask.height)} but image {image.handle} is "
                f"{size_text(image.width, image.height)}; use a mask made from this image "
                "(or the image the mask was made from)"
            )
        rgb = np.array(parse_color(inputs.color), dtype=np.float32)
        selected = mask.array.astype(bool)
        out = image.array.copy()
        pixels = out[selected].astype(np.float32)
        out[selected] = np.clip(np.rint(pixels * (1.0 - inputs.alpha) + rgb * inputs.alpha), 0, 255).astype(
            np.uint8
        )
        fraction = float(np.count_nonzero(selected)) / selected.size
        return OverlayMaskOutput(image=NewImage(out), mask_fraction=round(fraction, 4))
