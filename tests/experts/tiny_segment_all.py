"""A tiny random SAM whose heads give confident, crisp masks, for the segment_all tests.

The tiny SAM of ``tiny_segment.py`` has near-zero mask logits and IoU predictions, so automatic mask
generation with SAM's thresholds would (rightly) keep nothing. Here the IoU head's bias is raised
(predicted quality near 1) and the mask hypernetworks' output layers are scaled up (logits of a few
units), so candidates pass the filters and the de-duplication has real work. Saved with
``save_pretrained`` and loaded by the expert through ``from_pretrained(local_dir)`` like any SAM.
"""

from __future__ import annotations

from pathlib import Path

from tests.experts.tiny_segment import build_tiny_segment

__all__ = ["build_tiny_segment_all", "confident_heads"]


def build_tiny_segment_all(directory: str | Path) -> Path:
    """Save the tiny SAM with confident heads (and its processor) to ``directory``; return it."""
    return confident_heads(build_tiny_segment(directory))


def confident_heads(directory: Path) -> Path:
    """Raise the IoU head's bias and scale up the mask hypernetworks of the SAM saved in ``directory``."""
    import torch
    from transformers import SamModel

    model = SamModel.from_pretrained(directory)
    decoder = model.mask_decoder
    with torch.no_grad():
        decoder.iou_prediction_head.proj_out.bias += 1.0
        for mlp in decoder.output_hypernetworks_mlps:
            mlp.proj_out.weight *= 1e7
    model.save_pretrained(directory)
    return directory
