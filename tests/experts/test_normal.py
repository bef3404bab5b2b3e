"""The normal expert: a normal map from a depth map's gradients (weight-free).

Through Ray, the ReAct loop and plans: test_annotators_e2e.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from experts.base import ImageData
from experts.normal import Normal, normal_map


def ramp(width: int = 40, height: int = 20, step: float = 4.0) -> np.ndarray:
    """A depth map rising by ``step`` per column: the surface turns towards the left edge."""
    return np.repeat((np.arange(width, dtype=np.float32) * step)[None, :], height, axis=0)


def encoded(x: float, y: float, z: float) -> list[int]:
    """A unit normal's expected RGB (each component -1..1 scaled to 0..255)."""
    length = math.sqrt(x * x + y * y + z * z)
    return [round(c / length * 127.5 + 127.5) for c in (x, y, z)]


def test_a_slope_turns_the_normal_and_a_flat_far_background_faces_the_viewer() -> None:
    depth = ramp()  # 0 .. 156: columns below 40% of the range are background
    normals = normal_map(depth, background_threshold=0.4, strength=1.0)
    assert normals.shape == (20, 40, 3) and normals.dtype == np.uint8
    # Sobel of a ramp rising 4 per pixel is 8 * 4 along x and 0 along y; z is 2π
    np.testing.assert_array_equal(normals[5:15, 20:38], np.full((10, 18, 3), encoded(32.0, 0.0, 2 * math.pi)))
    np.testing.assert_array_equal(normals[5:15, 2:14], np.full((10, 12, 3), [128, 128, 255]))
    steeper = normal_map(depth, background_threshold=0.4, strength=3.0)
    assert steeper[10, 30].tolist() == encoded(96.0, 0.0, 2 * math.pi)
    every_slope = normal_map(depth, background_threshold=0.0, strength=1.0)
    assert every_slope[10, 5].tolist() == encoded(32.0, 0.0, 2 * math.pi)


def test_the_y_gradient_is_green_and_a_constant_map_is_flat() -> None:
    normals = normal_map(ramp().T.copy(), background_threshold=0.0, strength=1.0)  # rising downwards
    assert normals[20, 10].tolist() == encoded(0.0, 32.0, 2 * math.pi)
    flat = normal_map(np.full((8, 8), 90, np.uint8), background_threshold=0.4, strength=1.0)
    assert (flat == [128, 128, 255]).all()


def test_the_expert_reads_a_grey_depth_map_or_an_image() -> None:
    grey = np.repeat(np.clip(ramp(), 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    expert = Normal()
    for given in (ImageData("depth-1", grey, kind="depth"), ImageData("image-1", grey)):
        out = expert.run(Normal.Input.model_validate({"depth": given}))
        np.testing.assert_array_equal(out.normal.array, normal_map(grey[:, :, 0], 0.4, 1.0))
        assert out.normal.kind == "normal"
    with pytest.raises(ValidationError, match="'hed-1' is a hed handle but a depth or image handle"):
        Normal.Input.model_validate({"depth": "hed-1"})
    with pytest.raises(ValidationError, match="greater than 0"):
        Normal.Input.model_validate({"depth": "depth-1", "strength": 0})
