"""Canny: an edge map of an image (OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts.base import Expert, ExpertError, ImageRef, NewImage


class CannyInput(BaseModel):
    image: ImageRef = Field(description="the image to find edges in")
    low_threshold: float = Field(
        default=100, ge=0, le=255, description="gradient below this is never an edge (0..255)"
    )
    high_threshold: float = Field(
        default=200,
        ge=0,
        le=255,
        description="gradient above this is always an edge (0..255, larger than low_threshold)",
    )


class CannyOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="edge map: white edges on black, same size as the input")
    edge_fraction: float = Field(description="fraction of pixels that are edges (0..1)")


def canny_edges(array: np.ndarray, low: float, high: float) -> np.ndarray:
    """The Canny edge map of an HxWx3 RGB image: HxWx3 uint8, white edges on black.

    Raises :class:`ExpertError` unless ``low < high``.
    """
    if low >= high:
        raise ExpertError(
            f"low_threshold ({low:g}) must be smaller than high_threshold ({high:g}); e.g. use 100 and 200"
        )
    edges = cv2.Canny(cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2GRAY), low, high)
    return np.repeat(edges[:, :, None], 3, axis=2)


class Canny(Expert[CannyInput, CannyOutput]):
    name = "canny"
    description = (
        "Detect edges with the Canny detector. Returns 'image', a black image of the same size "
        "with edges in white, and 'edge_fraction', the share of edge pixels (0..1). Lower "
        "thresholds find more, fainter edges. Use it to show outlines/structure or to judge how "
        "busy or blurry an image is."
    )
    Input = CannyInput
    Output = CannyOutput

    def run(self, inputs: CannyInput) -> CannyOutput:
        edges = canny_edges(inputs.image.array, inputs.low_threshold, inputs.high_threshold)
        fraction = float(np.count_nonzero(edges[:, :, 0])) / edges[:, :, 0].size
        return CannyOutput(image=NewImage(edges), edge_fraction=round(fraction, 4))
