"""Scribble: hand-drawn-looking strokes from a soft-edge map, ControlNet's 'scribble' condition."""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from experts.base import Expert, ImageData, ref_validator
from experts.maps import NewScribble

EdgeMap = Annotated[
    ImageData,
    ref_validator("hed", "image"),
    WithJsonSchema({"type": "string", "description": "handle of a soft-edge map (hed-1) or of an image"}),
]

_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))
"""Across which a ridge is looked for: horizontal, vertical and the two diagonals, as (dy, dx)."""


def _ridges(edges: np.ndarray) -> np.ndarray:
    """Where ``edges`` peaks across some direction: at least both neighbours, above one of them."""
    padded = np.pad(edges.astype(np.int16), 1, mode="edge")
    height, width = edges.shape
    centre = padded[1:-1, 1:-1]
    found = np.zeros(edges.shape, bool)
    for dy, dx in _DIRECTIONS:
        before = padded[1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]
        after = padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        found |= (centre >= before) & (centre >= after) & ((centre > before) | (centre > after))
    return found


class ScribbleInput(BaseModel):
    edges: EdgeMap = Field(
        description="a soft-edge map from the hed expert (hed-N), or an image of grey strokes on black"
    )
    threshold: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="edge strength (0..1) a ridge needs to become a stroke"
    )
    thickness: float = Field(
        default=3.0, ge=0.0, le=20.0, description="how far strokes spread around the edges, in pixels"
    )


class ScribbleOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    scribble: NewScribble = Field(description="scribble map, same size: white strokes on black")
    stroke_fraction: float = Field(description="share of pixels that are strokes (0..1)")


def scribble_map(edges: np.ndarray, threshold: float, thickness: float) -> np.ndarray:
    """HxW uint8 strokes (0 or 255) from HxW uint8 edge strength.

    The edges are thinned to their ridges (pixels that peak across one of four directions), the
    ridges stronger than ``threshold`` kept, then blurred by ``thickness`` and binarised again, which
    widens and rounds them like a hand-drawn line.
    """
    keep = _ridges(edges) & (edges > round(threshold * 255))
    strokes: np.ndarray = np.where(keep, 255, 0).astype(np.uint8)
    if thickness > 0:
        strokes = cv2.GaussianBlur(strokes, (0, 0), thickness)
    return np.where(strokes > 4, 255, 0).astype(np.uint8)


class Scribble(Expert[ScribbleInput, ScribbleOutput]):
    name = "scribble"
    description = (
        "Turn a soft-edge map into a scribble: the strong edges as bold white strokes on black, like a "
        "quick drawing, as controlnet's 'scribble' condition expects. Give the hed expert's map (hed-N). "
        "Returns 'scribble', a scribble map (scribble-N), and 'stroke_fraction'. Use it when the new image "
        "should follow only the rough layout; a higher threshold keeps fewer strokes."
    )
    Input = ScribbleInput
    Output = ScribbleOutput

    def run(self, inputs: ScribbleInput) -> ScribbleOutput:
        edges = cv2.cvtColor(np.ascontiguousarray(inputs.edges.array), cv2.COLOR_RGB2GRAY)
        strokes = scribble_map(edges, inputs.threshold, inputs.thickness)
        return ScribbleOutput(
            scribble=NewScribble(np.repeat(strokes[:, :, None], 3, axis=2)),
            stroke_fraction=round(float(np.count_nonzero(strokes)) / strokes.size, 4),
        )
