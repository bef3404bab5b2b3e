"""Vision experts: one file each, Ray-free; ``experts.deployment`` turns one into a Serve deployment."""

from experts.base import (
    Expert,
    ExpertError,
    ImageData,
    ImageRef,
    MaskData,
    MaskRef,
    NewBoxes,
    NewImage,
    NewMask,
    NewText,
)

__all__ = [
    "Expert",
    "ExpertError",
    "ImageData",
    "ImageRef",
    "MaskData",
    "MaskRef",
    "NewBoxes",
    "NewImage",
    "NewMask",
    "NewText",
]
