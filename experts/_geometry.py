"""Shared argument types and checks for the image-op experts.

Boxes are ``[x0, y0, x1, y1]`` integer pixel coordinates of the top-left corner and the
bottom-right corner, with ``x1``/``y1`` exclusive: a box covers columns ``x0 .. x1-1`` and rows
``y0 .. y1-1``, so ``[0, 0, width, height]`` is the whole image. :data:`Box` validates the
shape (four integers); :func:`check_box_inside` checks a box against an image and raises an
:class:`ExpertError` the controller can act on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Annotated

from PIL import ImageColor
from pydantic import Field, WithJsonSchema

from experts.base import ExpertError

__all__ = [
    "BOX_DESCRIPTION",
    "Box",
    "Color",
    "check_box_inside",
    "enclosing_box",
    "parse_color",
    "size_text",
]

BOX_DESCRIPTION = (
    "[x0, y0, x1, y1] integer pixel coordinates: x0, y0 = top-left corner, x1, y1 = bottom-right "
    "corner (exclusive); 0 <= x0 < x1 <= image width, 0 <= y0 < y1 <= image height"
)

Box = Annotated[list[int], Field(min_length=4, max_length=4, description=BOX_DESCRIPTION)]
"""A box argument: exactly four integers (order and bounds are checked by ``check_box_inside``)."""

Color = Annotated[
    str,
    WithJsonSchema({"type": "string", "description": "a color name like 'red' or a hex code like '#ff8800'"}),
]
"""A color argument; turn it into RGB with :func:`parse_color`."""


def size_text(width: int, height: int) -> str:
    """``"640x480"``: how image sizes are written in messages."""
    return f"{width}x{height}"


def check_box_inside(box: Sequence[int], width: int, height: int, *, name: str = "box") -> tuple[int, ...]:
    """Return ``box`` as a tuple if it is a non-empty box inside a ``width`` x ``height`` image.

    Raises :class:`ExpertError` naming the box (``name``, e.g. ``"boxes[2]"``) and the image size.
    """
    if len(box) != 4:
        raise ExpertError(f"{name} {list(box)} does not have 4 numbers; give [x0, y0, x1, y1] in pixels")
    x0, y0, x1, y1 = (int(v) for v in box)
    shown = [x0, y0, x1, y1]
    if x0 >= x1 or y0 >= y1:
        raise ExpertError(
            f"{name} {shown} is empty or reversed; give [x0, y0, x1, y1] with x0 < x1 and y0 < y1 "
            "(top-left corner first, then bottom-right corner)"
        )
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        where = "lies outside" if x0 >= width or y0 >= height or x1 <= 0 or y1 <= 0 else "extends past"
        raise ExpertError(
            f"{name} {shown} {where} the {size_text(width, height)} image; give pixel coordinates "
            f"inside it (0 <= x0 < x1 <= {width}, 0 <= y0 < y1 <= {height})"
        )
    return x0, y0, x1, y1


def enclosing_box(points: Iterable[Sequence[float]], width: int, height: int) -> list[int]:
    """The smallest integer ``[x0, y0, x1, y1]`` box holding ``points``, clipped to the image."""
    pts = [(float(p[0]), float(p[1])) for p in points]
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0 = min(max(math.floor(min(xs)), 0), max(width - 1, 0))
    y0 = min(max(math.floor(min(ys)), 0), max(height - 1, 0))
    x1 = max(min(math.ceil(max(xs)), width), x0 + 1)
    y1 = max(min(math.ceil(max(ys)), height), y0 + 1)
    return [x0, y0, x1, y1]


def parse_color(value: str, *, name: str = "color") -> tuple[int, int, int]:
    """RGB of a color name (``"red"``) or hex code (``"#ff8800"``); ExpertError if unknown."""
    try:
        rgb = ImageColor.getrgb(value.strip())
    except (ValueError, AttributeError):
        raise ExpertError(
            f"{name} '{value}' is not a color; use a name like 'red', 'lime', 'blue' "
            "or a hex code like '#ff8800'"
        ) from None
    return int(rgb[0]), int(rgb[1]), int(rgb[2])
