"""What the segment expert and its SAM backends exchange: embeddings, prompts, and the backend protocol.

Both backends (transformers' ``SamModel`` in ``experts.segment`` and the official package in
``experts._sam_original``) import these types from here, so neither module imports the other's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = ["Embedding", "Prompts", "SamBackend"]


@dataclass
class Embedding:
    """One image's SAM embedding (``tensor`` is 1xCxhxw) and the size the image was resized to."""

    tensor: Any
    input_size: tuple[int, int]

    @property
    def nbytes(self) -> int:
        return int(self.tensor.element_size() * self.tensor.nelement())


@dataclass
class Prompts:
    """Checked prompts of one call in image pixels: boxes Bx4, points Nx2, labels N (or None)."""

    boxes: np.ndarray | None
    points: np.ndarray | None
    labels: np.ndarray | None


class SamBackend(Protocol):
    """A SAM implementation in three steps: embed images, decode prompts, upscale mask logits."""

    def embed(self, arrays: list[np.ndarray]) -> list[Embedding]:
        """Embeddings of several images in one image-encoder pass."""
        ...

    def decode(self, embedding: Embedding, prompts: Prompts) -> tuple[Any, Any]:
        """Low-res mask logits PxKxhxw and predicted IoUs PxK for prompts in model-input pixels."""
        ...

    def upscale(self, logits: Any, embedding: Embedding, original_size: tuple[int, int]) -> np.ndarray:
        """PxKxhxw logits → PxKxHxW bool masks at the original image size."""
        ...
