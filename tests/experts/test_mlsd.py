"""The mlsd expert: the M-LSD network written here (random weights from a safetensors file), its line
decoding, and the map drawn in the image's coordinates; through Ray and plans in test_annotators_e2e."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from experts._mlsd_net import MlsdNet, decode_segments
from experts.base import ImageData
from experts.mlsd import LISTED_SEGMENTS, Mlsd
from tests.experts.tiny_annotators import build_mlsd_checkpoint


def tp_map(
    size: int = 32, centres: tuple[tuple[int, int, float, tuple[float, ...]], ...] = ()
) -> torch.Tensor:
    """A TP map (1, 9, size, size): centre logit -10 everywhere but at ``centres`` (y, x, logit, ends)."""
    tp = torch.zeros(1, 9, size, size)
    tp[0, 0] = -10.0
    for y, x, logit, ends in centres:
        tp[0, 0, y, x] = logit
        tp[0, 1:5, y, x] = torch.tensor(ends)
    return tp


class FixedMap(torch.nn.Module):
    """Stands in for the network: the same TP map for every image of a batch (to check the geometry)."""

    def __init__(self, tp: torch.Tensor) -> None:
        super().__init__()
        self.tp = tp

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.tp.expand(len(pixels), -1, -1, -1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_mlsd_checkpoint(tmp_path_factory.mktemp("mlsd"))


def expert_for(checkpoint: tuple[Path, str], **options: object) -> Mlsd:
    directory, filename = checkpoint
    expert = Mlsd(
        {"model": str(directory), "filename": filename, "resolution": 64, "device": "cpu", **options}
    )
    expert.setup()
    return expert


def inputs(array: np.ndarray, **arguments: object) -> Mlsd.Input:
    return Mlsd.Input.model_validate({"image": ImageData("image-1", array), **arguments})


def test_the_network_has_m_lsd_large_s_layout_and_output() -> None:
    net = MlsdNet().eval()
    shapes = {name: tuple(value.shape) for name, value in net.state_dict().items()}
    assert shapes["backbone.features.0.0.weight"] == (32, 4, 3, 3)  # RGB + a channel of ones
    assert shapes["backbone.features.1.conv.0.0.weight"] == (32, 1, 3, 3)  # depthwise, no expansion
    assert shapes["backbone.features.13.conv.2.weight"] == (96, 576, 1, 1)
    assert shapes["block15.conv1.0.weight"] == (64, 96, 1, 1) and shapes["block23.conv3.weight"] == (
        16,
        64,
        1,
        1,
    )
    assert not any(name.startswith("backbone.features.14") for name in shapes)
    with torch.inference_mode():
        assert net(torch.rand(2, 3, 64, 64) * 255).shape == (2, 9, 32, 32)


def test_centres_and_displacements_decode_to_segments() -> None:
    tp = tp_map(centres=((10, 12, 5.0, (-3.0, 0.0, 3.0, 0.0)), (20, 5, 0.0, (0.0, -2.0, 0.0, 2.0))))
    (strong_only,) = decode_segments(tp, score_threshold=0.6)
    assert strong_only == [pytest.approx((9.0, 10.0, 15.0, 10.0, 1 / (1 + math.exp(-5.0))))]
    (both,) = decode_segments(tp, score_threshold=0.4)
    assert [s[:4] for s in both] == [(9.0, 10.0, 15.0, 10.0), (5.0, 18.0, 5.0, 22.0)]  # strongest first


def test_segments_are_scaled_to_the_image_clamped_filtered_and_drawn(checkpoint) -> None:
    expert = expert_for(checkpoint)
    centres = (
        (10, 12, 5.0, (-3.0, 0.0, 3.0, 0.0)),
        (20, 30, 5.0, (-1.0, 0.0, 4.0, 0.0)),
        (5, 5, 5.0, (0.0,) * 4),
    )
    expert._net = FixedMap(tp_map(centres=centres))
    out = expert.run(inputs(np.zeros((40, 60, 3), np.uint8)))
    # TP-map pixels (32 x 32) to the 60 x 40 image: x * 60 / 32, y * 40 / 32; the second is cut at the edge
    assert out.segments == [[16.9, 12.5, 28.1, 12.5], [54.4, 25.0, 59.0, 25.0]]  # longest first
    assert out.count == 2  # the zero-length one is dropped
    lines = out.lines.array
    assert out.lines.kind == "mlsd" and lines.shape == (40, 60, 3)
    assert (lines[12, 17:28] == 255).all() and lines[30].max() == 0
    assert expert.run(inputs(np.zeros((40, 60, 3), np.uint8), min_length=5)).count == 1
    assert expert.run(inputs(np.zeros((40, 60, 3), np.uint8), score_threshold=0.999)).count == 0


def test_random_weights_run_batched_and_match_single_runs(checkpoint) -> None:
    expert = expert_for(checkpoint)
    rng = np.random.default_rng(1)
    batch = [inputs(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in [(48, 64, 3), (70, 30, 3)]]
    together = expert.run_batch(batch)
    for item, out in zip(batch, together, strict=True):
        assert isinstance(out, Mlsd.Output) and out.lines.array.shape == item.image.array.shape
        assert len(out.segments) == min(out.count, LISTED_SEGMENTS)
        for x0, y0, x1, y1 in out.segments:
            assert min(x0, x1) >= 0 and max(x0, x1) <= item.image.width - 1
            assert min(y0, y1) >= 0 and max(y0, y1) <= item.image.height - 1
        alone = expert.run(item)
        assert alone.count == out.count and alone.segments == pytest.approx(out.segments, abs=0.2)


def test_the_resolution_must_fit_the_network() -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        Mlsd.Settings.model_validate({"resolution": 100})
