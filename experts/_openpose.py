"""OpenPose-style skeleton maps from COCO keypoints: the drawing ControlNet's 'openpose' model learned.

OpenPose's body has 18 points (COCO's 17 plus a neck between the shoulders) in its own order; each of
its 17 limbs and 18 joints has a fixed colour. Limbs are drawn as filled ellipses at 60% of their colour,
joints as full-colour dots, on black.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["COCO_KEYPOINTS", "draw_skeletons"]

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
"""COCO's 17 body keypoints, in the order pose models predict them."""

# For each OpenPose point, its COCO keypoint (None: the neck, the middle of the shoulders).
_FROM_COCO = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
_NECK_FROM = (5, 6)
_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
_COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
_REFERENCE_SIDE = 512
"""Limb width and joint size are OpenPose's (4 px) at this image size, scaled with the image."""


def _openpose_points(
    points: Sequence[Sequence[float]], visible: Sequence[bool]
) -> list[tuple[float, float] | None]:
    """The 18 OpenPose points of one person (None where not visible) from COCO's 17."""
    result: list[tuple[float, float] | None] = []
    for coco in _FROM_COCO:
        if coco is None:
            a, b = _NECK_FROM
            ok = visible[a] and visible[b]
            result.append(
                ((points[a][0] + points[b][0]) / 2, (points[a][1] + points[b][1]) / 2) if ok else None
            )
        else:
            result.append((float(points[coco][0]), float(points[coco][1])) if visible[coco] else None)
    return result


def draw_skeletons(
    people: Sequence[tuple[Sequence[Sequence[float]], Sequence[bool]]], width: int, height: int
) -> np.ndarray:
    """HxWx3 uint8: each person's (COCO keypoints [x, y], visible flags) drawn as an OpenPose skeleton."""
    canvas = np.zeros((height, width, 3), np.uint8)
    size = max(width, height) / _REFERENCE_SIDE
    stick, radius = max(1, round(4 * size)), max(1, round(4 * size))
    skeletons = [_openpose_points(points, visible) for points, visible in people]
    for limb, (a, b) in enumerate(_LIMBS):
        colour = tuple(round(c * 0.6) for c in _COLOURS[limb])
        for joints in skeletons:
            start, end = joints[a], joints[b]
            if start is None or end is None:
                continue
            centre = (round((start[0] + end[0]) / 2), round((start[1] + end[1]) / 2))
            half_length = round(math.dist(start, end) / 2)
            angle = round(math.degrees(math.atan2(end[1] - start[1], end[0] - start[0])))
            polygon = cv2.ellipse2Poly(centre, (half_length, stick), angle, 0, 360, 1)
            cv2.fillConvexPoly(canvas, np.asarray(polygon, np.int32), colour)
    for joints in skeletons:
        for index, joint in enumerate(joints):
            if joint is not None:
                cv2.circle(canvas, (round(joint[0]), round(joint[1])), radius, _COLOURS[index], thickness=-1)
    return canvas
