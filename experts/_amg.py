"""Automatic mask generation (SAM's "segment everything") over one cached image embedding.

A regular grid of single-point prompts goes through SAM's prompt encoder and mask decoder in
batches (the image encoder ran once, before). Each point gives three candidate masks; a candidate
is kept when its predicted IoU and its stability score (how little the mask changes when the logit
threshold moves by an offset) pass their thresholds. Duplicates are removed by greedy mask
non-maximum suppression on the mask IoU, best predicted IoU first, over all the kept candidates at
once, so the result does not depend on ``points_per_batch`` (only when more than
:data:`MAX_PENDING` candidates pass the filters are they de-duplicated early, to bound memory). The
low-resolution logits are used for filtering and de-duplication; only the survivors are upscaled to
the image size.

The steps follow Kirillov et al., "Segment Anything" (2023), §A and its reference implementation;
crop layers and small-region clean-up are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from experts._sam_backend import Embedding
    from experts.segment import TransformersSam

__all__ = ["AmgParams", "Candidates", "generate_masks", "mask_nms", "point_grid", "stability_scores"]

UPSCALE_CHUNK = 16
"""Masks upscaled to the image size at once (bounds the float buffer of the interpolation)."""
MAX_PENDING = 1024
"""Candidates kept before de-duplicating early (SAM-base: 128 KiB of float16 logits each)."""


@dataclass(frozen=True)
class AmgParams:
    """The knobs of automatic mask generation (SAM's defaults: 32, 64, 0.88, 0.95, 1.0, 0.7)."""

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    nms_thresh: float = 0.7


@dataclass
class Candidates:
    """Masks kept so far: low-res logits Nxhxw, predicted IoUs N, stability scores N (torch tensors)."""

    logits: Any
    scores: Any
    stability: Any

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def point_grid(per_side: int, width: int, height: int) -> np.ndarray:
    """``per_side``² points ``[x, y]`` at the centres of a regular grid over the image, row by row."""
    steps = (np.arange(per_side, dtype=np.float32) + 0.5) / per_side
    xs, ys = np.meshgrid(steps * width, steps * height)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def stability_scores(logits: Any, threshold: float, offset: float) -> Any:
    """IoU of the mask at ``threshold + offset`` with the mask at ``threshold - offset``, per mask.

    The first is inside the second, so the IoU is the ratio of their areas; 1 means the mask does not
    move with the threshold. An empty wider mask scores 0.
    """
    import torch

    inner = (logits > threshold + offset).flatten(1).sum(1, dtype=torch.int64)
    outer = (logits > threshold - offset).flatten(1).sum(1, dtype=torch.int64)
    return torch.where(outer > 0, inner / outer.clamp(min=1), torch.zeros_like(inner, dtype=torch.float32))


def mask_nms(masks: Any, scores: Any, iou_thresh: float) -> Any:
    """Indices of the masks kept by greedy NMS on mask IoU (``masks``: NxHxW bool), best score first.

    A mask is dropped when its IoU with a better-scoring kept mask exceeds ``iou_thresh``; empty
    masks are dropped too.
    """
    import torch

    flat = masks.flatten(1).float()
    areas = flat.sum(1)
    intersections = flat @ flat.T
    unions = areas[:, None] + areas[None, :] - intersections
    ious = intersections / unions.clamp(min=1)
    order = torch.argsort(scores, descending=True, stable=True)
    kept: list[int] = []
    for index in order.tolist():
        if areas[index] == 0:
            continue
        if kept and bool((ious[index, kept] > iou_thresh).any()):
            continue
        kept.append(index)
    return torch.tensor(kept, dtype=torch.long)


def _valid(logits: Any, embedding: Embedding, pad: tuple[int, int]) -> Any:
    """The part of the low-res logits that covers the image (the rest is the encoder's padding)."""
    h, w = logits.shape[-2:]
    in_h, in_w = embedding.input_size
    return logits[..., : math.ceil(in_h * h / pad[0]), : math.ceil(in_w * w / pad[1])]


def _join(parts: list[Candidates]) -> Candidates:
    import torch

    if len(parts) == 1:
        return parts[0]
    return Candidates(
        torch.cat([p.logits for p in parts]),
        torch.cat([p.scores for p in parts]),
        torch.cat([p.stability for p in parts]),
    )


def _deduplicate(
    candidates: Candidates, params: AmgParams, embedding: Embedding, pad: tuple[int, int]
) -> Candidates:
    """``candidates`` without the masks a better one overlaps by more than ``nms_thresh`` (mask IoU)."""
    masks = _valid(candidates.logits, embedding, pad) > params.mask_threshold
    keep = mask_nms(masks, candidates.scores, params.nms_thresh).to(candidates.scores.device)
    return Candidates(candidates.logits[keep], candidates.scores[keep], candidates.stability[keep])


def generate_masks(
    sam: TransformersSam, embedding: Embedding, original_size: tuple[int, int], params: AmgParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Every object SAM finds: (masks KxHxW bool, predicted IoUs K, stability K, candidates decoded).

    ``original_size`` is (height, width); masks come best predicted IoU first (the caller orders them).
    """
    import torch

    height, width = original_size
    new_h, new_w = embedding.input_size
    grid = point_grid(params.points_per_side, width, height)
    grid = grid * np.array([new_w / width, new_h / height], dtype=np.float32)
    pad_size = sam.image_processor.pad_size
    pad = (int(pad_size["height"]), int(pad_size["width"]))
    pending: list[Candidates] = []
    decoded = 0
    for start in range(0, len(grid), params.points_per_batch):
        points = torch.from_numpy(grid[start : start + params.points_per_batch]).to(sam.device)
        with torch.inference_mode():
            out = sam.model(
                image_embeddings=embedding.tensor,
                input_points=points[None, :, None, :],
                input_labels=torch.ones(1, len(points), 1, dtype=torch.long, device=sam.device),
                multimask_output=True,
            )
        logits = out.pred_masks[0].flatten(0, 1).float()  # (P*3) x h x w
        scores = out.iou_scores[0].flatten().float()
        decoded += len(scores)
        keep = scores > params.pred_iou_thresh
        logits, scores = logits[keep], scores[keep]
        stability = stability_scores(
            _valid(logits, embedding, pad), params.mask_threshold, params.stability_score_offset
        )
        keep = stability > params.stability_score_thresh
        if bool(keep.any()):
            pending.append(Candidates(logits[keep].half(), scores[keep], stability[keep]))
            if sum(len(part) for part in pending) > MAX_PENDING:
                pending = [_deduplicate(_join(pending), params, embedding, pad)]
    kept = _deduplicate(_join(pending), params, embedding, pad) if pending else None
    if kept is None or len(kept) == 0:
        return np.zeros((0, height, width), dtype=bool), np.zeros(0), np.zeros(0), decoded
    masks = [
        sam.upscale(kept.logits[i : i + UPSCALE_CHUNK][None].float(), embedding, original_size)[0]
        for i in range(0, len(kept), UPSCALE_CHUNK)
    ]
    return (
        np.concatenate(masks).astype(bool, copy=False),
        kept.scores.cpu().numpy(),
        kept.stability.cpu().numpy(),
        decoded,
    )
