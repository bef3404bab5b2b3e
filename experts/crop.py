"""Crop: cut a box out of an image."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from experts._geometry import Box, check_box_inside
from experts.base import Expert, ImageRef, NewImage


class CropInput(BaseModel):
    image: ImageRef = Field(description="the image to crop")
    box: Box = Field(
        description="region to keep: [x0, y0, x1, y1] pixel coordinates (x1, y1 exclusive) inside the image"
    )
    padding: int = Field(
        default=0,
        ge=0,
        le=4096,
        description="extra pixels of context to keep on every side of the box (clipped at the image border)",
    )


class CropOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="the cropped image")
    box: list[int] = Field(description="[x0, y0, x1, y1] of the crop in the source image, padding included")


class Crop(Expert[CropInput, CropOutput]):
    name = "crop"
    description = (
        "Crop an image to a box [x0, y0, x1, y1] (pixels), optionally with padding around it. "
        "Returns the cropped region as a new image plus the box actually cut (padding included, "
        "to map coordinates back: source x = crop x + box[0]). Use it to zoom in on a region "
        "before reading small text or describing details."
    )
    Input = CropInput
    Output = CropOutput

    def run(self, inputs: CropInput) -> CropOutput:
        image = inputs.image
        x0, y0, x1, y1 = check_box_inside(inputs.box, image.width, image.height)
        pad = inputs.padding
        x0, y0 = max(x0 - pad, 0), max(y0 - pad, 0)
        x1, y1 = min(x1 + pad, image.width), min(y1 + pad, image.height)
        region = image.array[y0:y1, x0:x1].copy()
        return CropOutput(image=NewImage(region), box=[x0, y0, x1, y1])
