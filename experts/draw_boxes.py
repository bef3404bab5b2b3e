"""Draw boxes: outline boxes (with optional labels) on a copy of an image."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field

from experts._geometry import Box, Color, check_box_inside, parse_color
from experts.base import Expert, ExpertError, ImageRef, NewImage


class DrawBoxesInput(BaseModel):
    image: ImageRef = Field(description="the image to draw on (it is not changed; a new image is made)")
    boxes: list[Box] = Field(
        description="boxes to outline, each [x0, y0, x1, y1] in pixels (x1, y1 exclusive), inside the image"
    )
    labels: list[str] = Field(
        default_factory=list,
        description="optional text for each box, same length and order as 'boxes'; [] draws no labels",
    )
    color: Color = Field(default="red", description="outline color: a name like 'red' or '#rrggbb'")
    width: int = Field(default=3, ge=1, le=50, description="outline thickness in pixels")


class DrawBoxesOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="a copy of the image with the boxes drawn")


def _text_color(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (0, 0, 0) if luminance > 150 else (255, 255, 255)


class DrawBoxes(Expert[DrawBoxesInput, DrawBoxesOutput]):
    name = "draw_boxes"
    description = (
        "Draw outlined boxes, optionally labelled, on a copy of an image, e.g. to show the user "
        "where detected objects or text are. Give 'boxes' as [[x0, y0, x1, y1], ...] in pixels and "
        "optionally 'labels' (one per box), 'color' and line 'width'. Returns the new image."
    )
    Input = DrawBoxesInput
    Output = DrawBoxesOutput

    def run(self, inputs: DrawBoxesInput) -> DrawBoxesOutput:
        image = inputs.image
        if not inputs.boxes:
            raise ExpertError("'boxes' is empty; give at least one box [x0, y0, x1, y1]")
        if inputs.labels and len(inputs.labels) != len(inputs.boxes):
            raise ExpertError(
                f"got {len(inputs.labels)} labels for {len(inputs.boxes)} boxes; give one label per box "
                "in the same order, or no labels"
            )
        checked = [
            check_box_inside(box, image.width, image.height, name=f"boxes[{i}]")
            for i, box in enumerate(inputs.boxes)
        ]
        rgb = parse_color(inputs.color)

        canvas = Image.fromarray(np.ascontiguousarray(image.array)).convert("RGB")
        draw = ImageDraw.Draw(canvas)
        for x0, y0, x1, y1 in checked:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=rgb, width=inputs.width)
        if inputs.labels:
            font = ImageFont.load_default(size=max(12, min(image.width, image.height) // 30))
            for (x0, y0, _x1, _y1), label in zip(checked, inputs.labels, strict=True):
                if not label:
                    continue
                left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
                tw, th = right - left + 4, bottom - top + 4
                lx = max(0, min(x0, image.width - tw))
                ly = y0 - th if y0 - th >= 0 else y0  # above the box, or inside it at the top edge
                draw.rectangle((lx, ly, lx + tw - 1, ly + th - 1), fill=rgb)
                draw.text((lx + 2 - left, ly + 2 - top), label, fill=_text_color(rgb), font=font)
        return DrawBoxesOutput(image=NewImage(np.array(canvas)))
