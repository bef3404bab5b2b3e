"""Normal: a surface-normal map from a depth map, made as ControlNet's 'normal' condition was made."""

from __future__ import annotations

import math
from typing import Annotated

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from experts.base import Expert, ImageData, ref_validator
from experts.maps import NewNormal

DepthMap = Annotated[
    ImageData,
    ref_validator("depth", "image"),
    WithJsonSchema(
        {"type": "string", "description": "handle of a depth map (depth-1) or of an image of one"}
    ),
]

FLAT = 2.0 * math.pi
"""The normal's z component before normalising (the x and y components are the depth gradients)."""


class NormalInput(BaseModel):
    depth: DepthMap = Field(
        description="a depth map with near bright, from the depth expert (depth-N) or an image holding one"
    )
    background_threshold: float = Field(
        default=0.4,
        ge=0.0,
        le=1.0,
        description="pixels farther than this share of the depth range (0 far .. 1 near) count as "
        "background and face the viewer; 0 keeps every slope",
    )
    strength: float = Field(
        default=1.0, gt=0.0, le=100.0, description="how steep the depth slopes look (1 as the depth map says)"
    )


class NormalOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    normal: NewNormal = Field(
        description="normal map, same size: x (red), y (green) and z (blue) of each surface normal, "
        "-1..1 scaled to 0..255; flat surfaces facing the viewer are (128, 128, 255)"
    )


def normal_map(depth: np.ndarray, background_threshold: float, strength: float) -> np.ndarray:
    """HxWx3 uint8 normals from an HxW depth map (0..255, near bright).

    The depth map's Sobel gradients are the normal's x and y (zero where the depth is below
    ``background_threshold`` of the full range), its z a constant 2π; the unit normal in -1..1 is
    scaled to 0..255. This is how the normal maps ControlNet's 'normal' model learned from were made.
    """
    depth = depth.astype(np.float32)
    x = cv2.Sobel(depth, cv2.CV_32F, 1, 0, ksize=3) * strength
    y = cv2.Sobel(depth, cv2.CV_32F, 0, 1, ksize=3) * strength
    low, span = float(depth.min()), float(depth.max() - depth.min())
    relative = (depth - low) / span if span > 0 else np.zeros_like(depth)
    background = relative < background_threshold
    x[background] = 0.0
    y[background] = 0.0
    normals = np.stack([x, y, np.full_like(x, FLAT)], axis=2)
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    return np.clip(np.rint(normals * 127.5 + 127.5), 0, 255).astype(np.uint8)


class Normal(Expert[NormalInput, NormalOutput]):
    name = "normal"
    description = (
        "Turn a depth map into a surface-normal map (which way each surface faces), as controlnet's "
        "'normal' condition expects. Give the depth map of the depth expert (depth-N). Returns "
        "'normal', a normal map (normal-N). Use it to keep a scene's shapes and lighting directions "
        "when redrawing it."
    )
    Input = NormalInput
    Output = NormalOutput

    def run(self, inputs: NormalInput) -> NormalOutput:
        grey = cv2.cvtColor(np.ascontiguousarray(inputs.depth.array), cv2.COLOR_RGB2GRAY)
        return NormalOutput(normal=NewNormal(normal_map(grey, inputs.background_threshold, inputs.strength)))
