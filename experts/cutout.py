"""Cutout: keep only an object's pixels, as an RGBA image that is transparent everywhere else."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts._masks import Masks, mask_box, union_of
from experts.base import Expert, ImageData, ImageRef, NewImage


class CutoutInput(BaseModel):
    image: ImageRef = Field(description="the image to cut the object out of")
    masks: Masks = Field(
        description="the object's mask handle ('mask-1'), or a list of them: their union is cut out "
        "(or each one separately with 'separate')"
    )
    crop: bool = Field(
        default=True,
        description="true: crop the cut-out to the box around the mask's pixels; false: keep the image size",
    )
    padding: int = Field(
        default=0,
        ge=0,
        le=4096,
        description="with crop: transparent margin kept around the object, in pixels",
    )
    separate: bool = Field(
        default=False, description="true: one cut-out per mask; false: one cut-out of all the masks together"
    )


class CutoutOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    images: list[NewImage] = Field(
        description="the cut-outs: RGBA images, opaque on the object and transparent elsewhere"
    )
    boxes: list[list[int]] = Field(
        description="for each cut-out, [x0, y0, x1, y1] of the region it covers in the source image"
    )
    areas: list[int] = Field(description="for each cut-out, the number of object pixels it keeps")


def cut_out(image: ImageData, mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """HxWx4 RGBA of ``image`` inside ``box``: alpha 255 on ``mask``, 0 (and black) elsewhere."""
    x0, y0, x1, y1 = box
    keep = mask[y0:y1, x0:x1]
    if image.alpha is not None:  # cutting from a cut-out keeps what was already transparent so
        keep = keep & (image.alpha[y0:y1, x0:x1] > 0)
    rgba = np.zeros((y1 - y0, x1 - x0, 4), dtype=np.uint8)
    rgba[keep, :3] = image.array[y0:y1, x0:x1][keep]
    rgba[keep, 3] = 255 if image.alpha is None else image.alpha[y0:y1, x0:x1][keep]
    return rgba


class Cutout(Expert[CutoutInput, CutoutOutput]):
    name = "cutout"
    description = (
        "Cut an object out of an image by its mask: returns an RGBA image (transparent background) "
        "holding only the mask's pixels, cropped to the object by default ('crop', 'padding'). Give "
        "'masks' as one handle or several (their union, or one cut-out each with 'separate'). Use it "
        "after segment to extract, isolate or 'keep only' an object."
    )
    Input = CutoutInput
    Output = CutoutOutput

    def run(self, inputs: CutoutInput) -> CutoutOutput:
        image = inputs.image
        union = union_of(inputs.masks, image)
        if inputs.separate:
            parts = [(m.array.astype(bool, copy=False), f"mask {m.handle}") for m in inputs.masks]
        else:
            names = ", ".join(m.handle for m in inputs.masks)
            parts = [(union, f"the union of {names}" if len(inputs.masks) > 1 else f"mask {names}")]
        images, boxes, areas = [], [], []
        for mask, what in parts:
            x0, y0, x1, y1 = mask_box(mask, what)  # an empty mask is an error, cropped or not
            pad = inputs.padding
            box = (
                max(x0 - pad, 0),
                max(y0 - pad, 0),
                min(x1 + pad, image.width),
                min(y1 + pad, image.height),
            )
            if not inputs.crop:
                box = (0, 0, image.width, image.height)
            rgba = cut_out(image, mask, box)
            images.append(NewImage(rgba))
            boxes.append(list(box))
            areas.append(int(np.count_nonzero(rgba[:, :, 3])))
        return CutoutOutput(images=images, boxes=boxes, areas=areas)
