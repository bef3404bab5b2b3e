"""Color pop: the masked region keeps its colour, the rest of the image turns grey."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts._masks import Masks, union_of
from experts.base import Expert, ImageRef, NewImage


class ColorPopInput(BaseModel):
    image: ImageRef = Field(description="the image to recolour (it is not changed; a new image is made)")
    masks: Masks = Field(
        description="mask handle(s) of what stays in colour ('mask-1' or a list: their union stays in colour)"
    )
    invert: bool = Field(
        default=False, description="true: the masked region turns grey and the rest keeps its colour"
    )


class ColorPopOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="the image, in colour inside the region and grey outside it")
    color_fraction: float = Field(description="fraction of the image left in colour (0..1)")


class ColorPop(Expert[ColorPopInput, ColorPopOutput]):
    name = "color_pop"
    description = (
        "Colour pop (colour splash): keep the masked objects in colour and turn the rest of the "
        "image greyscale ('invert' does the opposite). Give 'masks' as one handle or several (e.g. "
        "every mask from segment). Returns the new image."
    )
    Input = ColorPopInput
    Output = ColorPopOutput

    def run(self, inputs: ColorPopInput) -> ColorPopOutput:
        image = inputs.image
        colour = union_of(inputs.masks, image)
        if inputs.invert:
            colour = ~colour
        grey = cv2.cvtColor(cv2.cvtColor(image.array, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        out = np.where(colour[:, :, None], image.array, grey)
        fraction = float(np.count_nonzero(colour)) / colour.size
        return ColorPopOutput(image=NewImage(np.ascontiguousarray(out)), color_fraction=round(fraction, 4))
