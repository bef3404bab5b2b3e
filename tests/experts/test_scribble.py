"""The scribble expert: strokes from a soft-edge map (weight-free; through Ray in test_annotators_e2e)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from experts.base import ImageData
from experts.scribble import Scribble, scribble_map


def soft_edge(peak: int, width: int = 48, height: int = 32, column: int = 20) -> np.ndarray:
    """A vertical soft edge: strength ``peak`` on ``column``, falling off over a few pixels each side."""
    xs = np.arange(width, dtype=np.float32)
    profile = peak * np.exp(-((xs - column) ** 2) / 8.0)
    return np.repeat(np.rint(profile).astype(np.uint8)[None, :], height, axis=0)


def test_a_strong_edge_becomes_one_stroke_on_its_ridge() -> None:
    thin = scribble_map(soft_edge(220), threshold=0.5, thickness=0)
    assert set(np.unique(thin)) == {0, 255}
    assert (np.flatnonzero(thin[16]) == [20]).all()  # thinned to the ridge: one pixel wide
    thick = scribble_map(soft_edge(220), threshold=0.5, thickness=3.0)
    columns = np.flatnonzero(thick[16])
    assert columns.min() < 20 < columns.max() and 5 <= len(columns) <= 21  # widened around it, symmetric
    assert columns.min() + columns.max() == 40


def test_weak_edges_below_the_threshold_leave_no_stroke() -> None:
    assert not scribble_map(soft_edge(100), threshold=0.5, thickness=3.0).any()
    assert scribble_map(soft_edge(100), threshold=0.3, thickness=3.0).any()


def test_the_expert_takes_a_hed_map_or_an_image() -> None:
    grey = np.repeat(soft_edge(220)[:, :, None], 3, axis=2)
    expert = Scribble()
    for given in (ImageData("hed-1", grey, kind="hed"), ImageData("image-1", grey)):
        out = expert.run(Scribble.Input.model_validate({"edges": given, "thickness": 0}))
        assert out.scribble.kind == "scribble" and out.scribble.array.shape == (32, 48, 3)
        assert out.stroke_fraction == round(32 / (32 * 48), 4)
    with pytest.raises(ValidationError, match="'depth-1' is a depth handle but a hed or image handle"):
        Scribble.Input.model_validate({"edges": "depth-1"})
    with pytest.raises(ValidationError, match="threshold"):
        Scribble.Input.model_validate({"edges": "hed-1", "threshold": 1.0})
