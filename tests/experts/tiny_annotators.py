"""Tiny random-weight annotator models built in-process (no downloads), for offline tests and benches.

- ``build_tiny_vitpose(directory)`` — a ``VitPoseForPoseEstimation`` (2-layer ViT, 64x48 crops, COCO's
  17 keypoints) and its PIL image processor, saved with ``save_pretrained``.
- ``build_tiny_depth_anything(directory)`` — a ``DepthAnythingForDepthEstimation`` (tiny DINOv2
  backbone) and its processor: the second depth family the depth expert loads.
- ``build_hed_checkpoint(directory)`` / ``build_mlsd_checkpoint(directory)`` — the HED and M-LSD
  networks written here, at their real sizes with seeded random weights, saved as one
  ``.safetensors`` file each (the experts' ``filename``); returns (directory, filename).

The DPT depth model lives in ``tiny_diffusion.build_tiny_depth_estimator`` and Grounding DINO (the
pose expert's person detector) in ``tiny_detect.build_tiny_detect``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "build_hed_checkpoint",
    "build_mlsd_checkpoint",
    "build_tiny_depth_anything",
    "build_tiny_vitpose",
]


def build_tiny_vitpose(directory: str | Path, keypoints: int = 17, seed: int = 0) -> Path:
    """Save a tiny random ViTPose (COCO's 17 keypoints unless told) and its image processor; returns it."""
    import torch
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation
    from transformers.models.vitpose.image_processing_pil_vitpose import VitPoseImageProcessorPil

    backbone = VitPoseBackboneConfig(
        image_size=[64, 48],
        patch_size=[16, 16],
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_ratio=2,
        out_indices=[2],
    )
    config = VitPoseConfig(backbone_config=backbone, num_labels=keypoints)
    torch.manual_seed(seed)
    VitPoseForPoseEstimation(config).save_pretrained(directory)
    VitPoseImageProcessorPil(size={"height": 64, "width": 48}).save_pretrained(directory)
    return Path(directory)


def build_tiny_depth_anything(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny random Depth Anything (DINOv2 backbone) and its image processor; returns the directory."""
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessorPil,
    )

    backbone = Dinov2Config(
        image_size=28,
        patch_size=14,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=16,
        neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=16,
        head_hidden_size=8,
    )
    torch.manual_seed(seed)
    DepthAnythingForDepthEstimation(config).save_pretrained(directory)
    processor = DPTImageProcessorPil(
        size={"height": 28, "width": 28}, keep_aspect_ratio=True, ensure_multiple_of=14
    )
    processor.save_pretrained(directory)
    return Path(directory)


def _save(module: object, directory: str | Path, filename: str) -> tuple[Path, str]:
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in module.state_dict().items()}  # type: ignore[attr-defined]
    save_file(state, str(directory / filename))
    return directory, filename


def build_hed_checkpoint(
    directory: str | Path, filename: str = "hed.safetensors", seed: int = 0
) -> tuple[Path, str]:
    """Save the HED network with seeded random weights as ``directory/filename``."""
    import torch

    from experts._hed_net import HedNet

    torch.manual_seed(seed)
    return _save(HedNet(), directory, filename)


def build_mlsd_checkpoint(
    directory: str | Path, filename: str = "mlsd.safetensors", seed: int = 0
) -> tuple[Path, str]:
    """Save the M-LSD (large) network with seeded random weights as ``directory/filename``."""
    import torch

    from experts._mlsd_net import MlsdNet

    torch.manual_seed(seed)
    return _save(MlsdNet(), directory, filename)
