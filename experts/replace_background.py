"""Replace background: keep the masked foreground and put a colour, a blur or another image behind it."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from experts._geometry import Color, parse_color
from experts._masks import Masks, union_of
from experts.base import Expert, ImageData, ImageRef, NewImage


class ReplaceBackgroundInput(BaseModel):
    image: ImageRef = Field(description="the image whose background is replaced (a new image is made)")
    masks: Masks = Field(
        description="mask handle(s) of the foreground to keep, e.g. the person ('mask-1' or a list: "
        "their union is kept); see 'mask_is'"
    )
    color: Color | None = Field(
        default=None, description="new background: a solid colour, a name like 'white' or '#rrggbb'"
    )
    blur: float | None = Field(
        default=None,
        gt=0,
        le=200,
        description="new background: the image's own background blurred by this Gaussian sigma in pixels "
        "(portrait effect; 8-30 is typical)",
    )
    background: ImageRef | None = Field(
        default=None,
        description="new background: another image's handle, scaled to cover the image and centre-cropped",
    )
    mask_is: Literal["foreground", "background"] = Field(
        default="foreground",
        description="'foreground': the masks mark what to keep; 'background': they mark what to replace "
        "(e.g. a segmented sky)",
    )
    feather: float = Field(
        default=0.0,
        ge=0,
        le=50,
        description="softens the foreground's edge by this many pixels (0 = hard edge)",
    )

    @model_validator(mode="after")
    def _one_background(self) -> ReplaceBackgroundInput:
        given = [name for name in ("color", "blur", "background") if getattr(self, name) is not None]
        if len(given) != 1:
            which = "none was" if not given else f"{' and '.join(given)} were"
            raise ValueError(
                "give exactly one new background: 'color' (e.g. 'white'), 'blur' (e.g. 15) or "
                f"'background' (an image handle); {which} given"
            )
        return self


class ReplaceBackgroundOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="the image with its background replaced")
    foreground_fraction: float = Field(description="fraction of the image kept as foreground (0..1)")


def cover(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """``array`` scaled (aspect kept) to cover ``width`` x ``height``, then centre-cropped to it."""
    h, w = array.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    shrinking = new_w < w
    resized = cv2.resize(
        array, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])


def blend(foreground: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha`` (HxW in 0..1) of ``foreground`` over ``background``, both HxWx3 uint8."""
    weight = alpha[:, :, None].astype(np.float32)
    mixed = foreground.astype(np.float32) * weight + background.astype(np.float32) * (1.0 - weight)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


class ReplaceBackground(Expert[ReplaceBackgroundInput, ReplaceBackgroundOutput]):
    name = "replace_background"
    description = (
        "Replace an image's background while keeping the masked foreground (e.g. a person from "
        "segment): give exactly one of 'color' (solid colour), 'blur' (blur the original background, "
        "a portrait effect; Gaussian sigma in pixels) or 'background' (another image's handle). "
        "'mask_is': 'background' when the masks mark what to replace; 'feather' softens the edge. "
        "Returns the new image."
    )
    Input = ReplaceBackgroundInput
    Output = ReplaceBackgroundOutput

    def run(self, inputs: ReplaceBackgroundInput) -> ReplaceBackgroundOutput:
        image = inputs.image
        keep = union_of(inputs.masks, image)
        if inputs.mask_is == "background":
            keep = ~keep
        alpha: np.ndarray = keep.astype(np.float32)
        if inputs.feather > 0:
            alpha = cv2.GaussianBlur(alpha, (0, 0), inputs.feather)
        out = blend(image.array, self._background(inputs, image), alpha)
        fraction = float(np.count_nonzero(keep)) / keep.size
        return ReplaceBackgroundOutput(image=NewImage(out), foreground_fraction=round(fraction, 4))

    @staticmethod
    def _background(inputs: ReplaceBackgroundInput, image: ImageData) -> np.ndarray:
        if inputs.background is not None:
            return cover(inputs.background.array, image.width, image.height)
        if inputs.blur is not None:
            return cv2.GaussianBlur(image.array, (0, 0), inputs.blur)
        rgb = np.array(parse_color(inputs.color or ""), dtype=np.uint8)
        return np.broadcast_to(rgb, image.array.shape)
