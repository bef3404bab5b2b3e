"""Resize: scale an image to a new size."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from experts._geometry import size_text
from experts.base import Expert, ExpertError, ImageRef, NewImage

MAX_SIDE = 8192

Side = Annotated[
    Annotated[int, Field(ge=1, le=MAX_SIDE)] | None,
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_SIDE}),
]
Scale = Annotated[
    Annotated[float, Field(gt=0, le=64)] | None,
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 64}),
]


class ResizeInput(BaseModel):
    image: ImageRef = Field(description="the image to resize")
    width: Side = Field(
        default=None, description="new width in pixels; given alone, the height follows the aspect ratio"
    )
    height: Side = Field(
        default=None, description="new height in pixels; given alone, the width follows the aspect ratio"
    )
    scale: Scale = Field(
        default=None, description="factor for both sides instead of width/height, e.g. 0.5 halves the image"
    )


class ResizeOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="the resized image")
    size: list[int] = Field(description="[width, height] of the new image")


class Resize(Expert[ResizeInput, ResizeOutput]):
    name = "resize"
    description = (
        f"Resize an image: give 'width' and/or 'height' in pixels (only one keeps the aspect "
        f"ratio) or a 'scale' factor (e.g. 2 doubles each side). Sides must stay within "
        f"1..{MAX_SIDE} px. Returns the new image and its [width, height]. Use it to enlarge "
        f"small crops or shrink very large images."
    )
    Input = ResizeInput
    Output = ResizeOutput

    def run(self, inputs: ResizeInput) -> ResizeOutput:
        image = inputs.image
        w, h = image.width, image.height
        if inputs.scale is not None:
            if inputs.width is not None or inputs.height is not None:
                raise ExpertError("give either 'scale' or 'width'/'height', not both")
            new_w, new_h = round(w * inputs.scale), round(h * inputs.scale)
        elif inputs.width is not None and inputs.height is not None:
            new_w, new_h = inputs.width, inputs.height
        elif inputs.width is not None:
            new_w, new_h = inputs.width, round(h * inputs.width / w)
        elif inputs.height is not None:
            new_w, new_h = round(w * inputs.height / h), inputs.height
        else:
            raise ExpertError("give 'width' and/or 'height' in pixels, or a 'scale' factor like 0.5")

        if not (1 <= new_w <= MAX_SIDE and 1 <= new_h <= MAX_SIDE):
            raise ExpertError(
                f"resizing the {size_text(w, h)} image that way gives {size_text(new_w, new_h)}; each side "
                f"must be 1..{MAX_SIDE} px, so choose a size or scale that stays within that"
            )
        if (new_w, new_h) == (w, h):
            return ResizeOutput(image=NewImage(image.array.copy()), size=[w, h])
        resized = Image.fromarray(image.array).resize((new_w, new_h), Image.Resampling.BICUBIC)
        return ResizeOutput(image=NewImage(np.array(resized)), size=[new_w, new_h])
