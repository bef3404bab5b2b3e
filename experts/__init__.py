"""Vision experts: one file each, Ray-free; ``experts.deployment`` turns one into a Serve deployment."""

from experts._text_or_handle import TextOrHandle
from experts.base import (
    BoxesData,
    BoxesRef,
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
    TextData,
    TextRef,
)

__all__ = [
    "BoxesData",
    "BoxesRef",
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
    "TextData",
    "TextOrHandle",
    "TextRef",
]
