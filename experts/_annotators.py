"""Shared by the annotator experts (depth, hed, mlsd, pose): sizes, batching by size, map pixels.

Imports torch lazily, so importing an annotator module stays cheap.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

import cv2
import numpy as np

__all__ = ["by_key", "grey_map", "resize", "short_side_size", "stack_pixels"]

K = TypeVar("K", bound=Hashable)


def short_side_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) scaled so the shorter side is ``short_side``, keeping the aspect ratio."""
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``array`` (HxW or HxWxC) resized to ``size`` (width, height): area when shrinking, else cubic."""
    if (array.shape[1], array.shape[0]) == size:
        return array
    shrinking = size[0] * size[1] < array.shape[0] * array.shape[1]
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def by_key(keys: Sequence[K]) -> dict[K, list[int]]:
    """Positions grouped by key, in first-seen order: items of one group run in one forward pass."""
    groups: dict[K, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return groups


def stack_pixels(arrays: Sequence[np.ndarray], size: tuple[int, int]) -> Any:
    """RGB uint8 images resized to ``size`` as one float tensor (batch, 3, height, width), values 0..255."""
    import torch

    batch = np.stack([resize(np.ascontiguousarray(a), size) for a in arrays]).astype(np.float32)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()


def grey_map(values: np.ndarray, *, normalise: bool = False) -> np.ndarray:
    """An HxW map as HxWx3 uint8 grey: values in 0..1 scaled to 0..255, or min-max scaled first."""
    values = np.asarray(values, dtype=np.float32)
    if normalise:
        low, span = float(values.min()), float(values.max() - values.min())
        values = (values - low) / span if span > 0 else np.zeros_like(values)
    grey = np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)
