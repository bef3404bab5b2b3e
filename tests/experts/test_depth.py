"""The depth expert on tiny random DPT and Depth Anything models loaded from local directories.

Through Ray, the ReAct loop and plans: test_annotators_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from experts.base import ImageData
from experts.depth import Depth
from tests.experts.tiny_annotators import build_tiny_depth_anything
from tests.experts.tiny_diffusion import build_tiny_depth_estimator

BUILDERS = {"dpt": build_tiny_depth_estimator, "depth_anything": build_tiny_depth_anything}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def expert(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Depth:
    directory = BUILDERS[request.param](tmp_path_factory.mktemp(request.param))
    loaded = Depth({"model": str(directory), "device": "cpu"})
    loaded.setup()
    return loaded


def picture(width: int, height: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_a_depth_map_per_image_batched_by_processed_size(expert: Depth) -> None:
    shapes = [(40, 60), (44, 66), (60, 30)]  # the first two share an aspect ratio
    batch = [
        Depth.Input.model_validate({"image": ImageData(f"image-{i}", picture(w, h, i))})
        for i, (h, w) in enumerate(shapes)
    ]
    passes: list[int] = []
    forward = expert._model.forward
    expert._model.forward = lambda **kw: passes.append(len(kw["pixel_values"])) or forward(**kw)
    try:
        together = expert.run_batch(batch)
    finally:
        del expert._model.forward
    processed = {tuple(expert._processor(images=item.image.array)["pixel_values"][0].shape) for item in batch}
    assert sum(passes) == 3 and len(passes) == len(processed)  # one pass per processed size
    for (height, width), item, out in zip(shapes, batch, together, strict=True):
        assert isinstance(out, Depth.Output) and out.depth.kind == "depth"
        depth = out.depth.array
        assert depth.shape == (height, width, 3) and depth.dtype == np.uint8
        assert (depth[:, :, 0] == depth[:, :, 1]).all() and (depth[:, :, 1] == depth[:, :, 2]).all()  # grey
        assert depth.min() == 0 and depth.max() == 255  # min-max scaled
        alone = expert.run(item).depth.array.astype(int)
        assert np.abs(alone - depth.astype(int)).max() <= 1


def test_near_is_bright_for_relative_and_metric_models(expert: Depth) -> None:
    predicted = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # relative models: disparity, near is large
    relative = expert._map(predicted)[:, :, 0]
    assert relative.tolist() == [[0, 85], [170, 255]]
    expert._metric = True  # metric models: distance, far is large
    try:
        assert expert._map(predicted)[:, :, 0].tolist() == [[255, 170], [85, 0]]
    finally:
        expert._metric = False


def test_the_model_family_is_read_from_the_directory(tmp_path: Path) -> None:
    directory = build_tiny_depth_anything(tmp_path / "da")
    expert = Depth({"model": str(directory), "device": "cpu"})
    expert.setup()
    assert type(expert._model).__name__ == "DepthAnythingForDepthEstimation" and not expert._metric
