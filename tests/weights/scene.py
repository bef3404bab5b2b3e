"""A picture real models read without doubt: a red disc and a blue square on white, and their masks."""

from __future__ import annotations

import numpy as np

WIDTH, HEIGHT = 640, 480
DISC_CENTRE, DISC_RADIUS = (170, 240), 100
DISC_BOX = [70, 140, 271, 341]
SQUARE_BOX = [390, 150, 570, 330]
RED, BLUE = (220, 30, 30), (30, 60, 220)


def disc_mask() -> np.ndarray:
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (xs - DISC_CENTRE[0]) ** 2 + (ys - DISC_CENTRE[1]) ** 2 <= DISC_RADIUS**2


def square_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    x0, y0, x1, y1 = SQUARE_BOX
    mask[y0:y1, x0:x1] = True
    return mask


def scene() -> np.ndarray:
    """HxWx3 uint8: the disc and the square on a white background."""
    image = np.full((HEIGHT, WIDTH, 3), 255, dtype=np.uint8)
    image[disc_mask()] = RED
    image[square_mask()] = BLUE
    return image


def box_iou(a: list[int], b: list[int]) -> float:
    inter_w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def redness(pixels: np.ndarray) -> float:
    """Mean of R - (G + B) / 2 over an Nx3 (or HxWx3) array: high for red, negative for blue."""
    rgb = pixels.reshape(-1, 3).astype(np.float64)
    return float((rgb[:, 0] - (rgb[:, 1] + rgb[:, 2]) / 2).mean())


def red_fraction(pixels: np.ndarray) -> float:
    """Share of pixels that are clearly red (R well above G and B)."""
    rgb = pixels.reshape(-1, 3).astype(np.int32)
    return float(((rgb[:, 0] > 120) & (rgb[:, 0] - rgb[:, 1] > 60) & (rgb[:, 0] - rgb[:, 2] > 60)).mean())
