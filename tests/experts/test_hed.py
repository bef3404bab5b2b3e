"""The hed expert: the HED network written here, loaded from a safetensors (or .pth) file through setup().

Random weights say little about the pipeline around the network, so one test builds weights whose
answer is known (a rightward-brightening detector in the first stage, the other sides silent) and
checks the map pixel by pixel; through Ray and plans in test_annotators_e2e.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from experts._hed_net import STAGES, HedNet
from experts.base import ImageData
from experts.hed import Hed
from loading import ModelNotAvailable
from tests.experts.tiny_annotators import build_hed_checkpoint, build_mlsd_checkpoint


def step_image(width: int = 48, height: int = 32, column: int = 24) -> np.ndarray:
    """Black left of ``column``, white from it on."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, column:] = 255
    return image


def known_weights() -> dict[str, torch.Tensor]:
    """A HED whose first side fires where brightness rises to the right; the other sides say 0."""
    state = {name: torch.zeros_like(value) for name, value in HedNet().state_dict().items()}
    state["block1.convs.0.weight"][0, :, 1, 0] = -1 / 3  # mean brightness right minus left
    state["block1.convs.0.weight"][0, :, 1, 2] = 1 / 3
    state["block1.convs.1.weight"][0, 0, 1, 1] = 1.0  # passes it on
    state["block1.projection.weight"][0, 0] = 1.0
    state["block1.projection.bias"][0] = -20.0
    return state


def expert_for(directory: Path, filename: str, resolution: int = 32) -> Hed:
    expert = Hed({"model": str(directory), "filename": filename, "resolution": resolution, "device": "cpu"})
    expert.setup()
    return expert


def run(expert: Hed, array: np.ndarray) -> Hed.Output:
    return expert.run(Hed.Input.model_validate({"image": ImageData("image-1", array)}))


def test_the_network_has_hed_s_published_layout() -> None:
    shapes = {name: tuple(value.shape) for name, value in HedNet().state_dict().items()}
    assert shapes["norm"] == (1, 3, 1, 1)
    assert shapes["block1.convs.0.weight"] == (64, 3, 3, 3) and shapes["block1.projection.weight"] == (
        1,
        64,
        1,
        1,
    )
    assert shapes["block5.convs.2.weight"] == (512, 512, 3, 3) and "block5.convs.3.weight" not in shapes
    assert [sum(f"block{i}.convs.{j}.weight" in shapes for j in range(4)) for i in range(1, 6)] == [
        layers for _, _, layers in STAGES
    ]


@pytest.mark.parametrize("suffix", ["safetensors", "pth"])
def test_known_weights_draw_the_edge_where_they_should(tmp_path: Path, suffix: str) -> None:
    state = known_weights()
    if suffix == "safetensors":
        save_file(state, str(tmp_path / "hed.safetensors"))
    else:
        torch.save(state, tmp_path / "hed.pth")
    out = run(expert_for(tmp_path, f"hed.{suffix}"), step_image())
    edges = out.edges.array
    assert out.edges.kind == "hed" and edges.shape == (32, 48, 3)
    assert (edges[:, 23:25] == 255).all()  # (255 - 20) / 5 averaged over five sides: sigmoid ≈ 1
    quiet = round(255 / (1 + np.exp(4.0)))  # (0 - 20) / 5 elsewhere
    assert (np.delete(edges, [23, 24], axis=1) == quiet).all()
    assert out.edge_fraction == round(2 / 48, 4)


def test_a_larger_image_is_scaled_to_the_resolution_and_back(tmp_path: Path) -> None:
    save_file(known_weights(), str(tmp_path / "hed.safetensors"))
    edges = run(expert_for(tmp_path, "hed.safetensors", resolution=32), step_image(96, 64, 48)).edges.array
    assert edges.shape == (64, 96, 3)
    strong = np.flatnonzero(edges[32, :, 0] > 127)
    assert strong.min() >= 44 and strong.max() <= 51  # the edge stays where it was, a little wider


def test_a_batch_runs_by_size_and_matches_single_runs(tmp_path: Path) -> None:
    directory, filename = build_hed_checkpoint(tmp_path)
    expert = expert_for(directory, filename)
    rng = np.random.default_rng(0)
    arrays = [
        rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(32, 40, 3), (40, 32, 3), (32, 40, 3)]
    ]
    batch = [Hed.Input.model_validate({"image": ImageData(f"image-{i}", a)}) for i, a in enumerate(arrays)]
    together = expert.run_batch(batch)
    for inputs, out in zip(batch, together, strict=True):
        assert isinstance(out, Hed.Output) and out.edges.array.shape == inputs.image.array.shape
        alone = expert.run(inputs).edges.array.astype(int)
        assert np.abs(out.edges.array.astype(int) - alone).max() <= 1


def test_a_wrong_or_missing_checkpoint_is_named(tmp_path: Path) -> None:
    directory, filename = build_mlsd_checkpoint(tmp_path)
    with pytest.raises(
        ModelNotAvailable, match=r"mlsd.safetensors in .* is not a HED checkpoint: \d+ weights"
    ):
        expert_for(directory, filename)
    with pytest.raises(ModelNotAvailable, match=r"no file hed.safetensors in .*set options.filename"):
        expert_for(directory, "hed.safetensors")
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelNotAvailable, match="not a safetensors file or a plain PyTorch state dict"):
        expert_for(tmp_path, "broken.pth")
