"""Segment all: every object in an image, without prompts (SAM automatic mask generation).

The image encoder runs once per image (and its embedding is cached per replica, as in ``segment``);
a grid of point prompts is then decoded in batches over that one embedding (``experts._amg``).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts._amg import AmgParams, generate_masks
from experts._loading import DeviceSettings
from experts._masks import mask_box
from experts.base import Expert, ExpertError, ImageData, ImageRef, NewMask
from experts.segment import Embedding, EmbeddingCache, SegmentSettings, TransformersSam, cache_key


class SegmentAllInput(BaseModel):
    image: ImageRef = Field(description="the image to segment completely")
    max_masks: int | None = Field(
        default=None, ge=1, le=256, description="at most this many masks, the largest (default $max_masks)"
    )
    min_area_fraction: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="drop masks covering less than this fraction of the image (e.g. 0.001 drops specks)",
    )


class SegmentAllOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    masks: list[NewMask] = Field(description="one mask per object or part found, largest first")
    areas: list[int] = Field(description="pixels in each mask")
    boxes: list[list[int]] = Field(description="[x0, y0, x1, y1] around each mask (end exclusive)")
    scores: list[float] = Field(description="SAM's predicted IoU (mask quality, 0-1) of each mask")
    stability: list[float] = Field(description="stability score of each mask (0-1; 1 = crisp boundary)")
    found: int = Field(description="distinct masks that passed the filters, before max_masks")
    points: int = Field(description="candidate masks decoded (3 per grid point)")
    embedding_cached: bool = Field(description="true when this image's embedding was reused")
    image_size: list[int] = Field(description="[width, height] of the image")


class SegmentAllSettings(DeviceSettings):
    """Options for the ``options:`` of the segment_all entry in the config (unknown keys are rejected)."""

    model: str = Field(
        default=SegmentSettings.model_fields["model"].default,  # the segment expert's SAM
        description="transformers SAM: hub id or local directory with the model and its processor",
    )
    embedding_cache_mb: float = Field(default=256, ge=0, description="MiB of image embeddings kept (LRU)")
    points_per_side: int = Field(default=32, ge=1, le=128, description="the prompt grid is this many squared")
    points_per_batch: int = Field(default=64, ge=1, le=4096, description="grid points decoded per pass")
    pred_iou_thresh: float = Field(default=0.88, ge=0, le=1, description="keep masks predicted this good")
    stability_score_thresh: float = Field(default=0.95, ge=0, le=1, description="keep masks this stable")
    stability_score_offset: float = Field(default=1.0, gt=0, description="logit shift of the stability score")
    mask_threshold: float = Field(default=0.0, description="mask logit threshold (0 = SAM's own)")
    nms_thresh: float = Field(default=0.7, gt=0, le=1, description="mask IoU above which the worse one goes")
    max_masks: int = Field(default=32, ge=1, le=256, description="masks returned when a call does not say")

    def amg(self) -> AmgParams:
        return AmgParams(
            points_per_side=self.points_per_side,
            points_per_batch=self.points_per_batch,
            pred_iou_thresh=self.pred_iou_thresh,
            stability_score_thresh=self.stability_score_thresh,
            stability_score_offset=self.stability_score_offset,
            mask_threshold=self.mask_threshold,
            nms_thresh=self.nms_thresh,
        )


class SegmentAll(Expert[SegmentAllInput, SegmentAllOutput]):
    name = "segment_all"
    extra = "vision"
    description = (
        "Segment everything in an image with SAM, without prompts: returns a mask for every object "
        "or part it finds (largest first, at most 'max_masks', default $max_masks) with each mask's "
        "area, box and quality scores. Use it to list, count or cut out all regions when no object "
        "is named; to outline a named object, detect it and give its box to segment instead."
    )
    Input = SegmentAllInput
    Output = SegmentAllOutput
    Settings = SegmentAllSettings

    settings: SegmentAllSettings

    def setup(self) -> None:
        s = self.settings
        sam_settings = SegmentSettings(
            model=s.model, device=s.device, dtype=s.dtype, mask_threshold=s.mask_threshold
        )
        self.sam = TransformersSam(sam_settings, expert=self.name)
        self.cache = EmbeddingCache(int(s.embedding_cache_mb * 2**20))

    def run(self, inputs: SegmentAllInput) -> SegmentAllOutput:
        (result,) = self.run_batch([inputs])
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[SegmentAllInput]) -> list[SegmentAllOutput | ExpertError]:
        """One image-encoder pass for the batch's uncached images, then the point grid per image."""
        embeddings = self._embeddings([item.image for item in batch])
        return [self._segment(item, *embeddings[cache_key(item.image)]) for item in batch]

    def _embeddings(self, images: list[ImageData]) -> dict[str, tuple[Embedding, bool]]:
        """Each distinct image's embedding (key → (embedding, whether it came from the cache))."""
        found: dict[str, tuple[Embedding, bool]] = {}
        missing: dict[str, np.ndarray] = {}
        for image in images:
            key = cache_key(image)
            if key in found or key in missing:
                continue
            cached = self.cache.get(key)
            if cached is not None:
                found[key] = (cached, True)
            else:
                missing[key] = image.array
        if missing:
            for key, embedding in zip(missing, self.sam.embed(list(missing.values())), strict=True):
                self.cache.put(key, embedding)
                found[key] = (embedding, False)
        return found

    def _segment(self, inputs: SegmentAllInput, embedding: Embedding, cached: bool) -> SegmentAllOutput:
        image = inputs.image
        masks, scores, stability, decoded = generate_masks(
            self.sam, embedding, (image.height, image.width), self.settings.amg()
        )
        areas = masks.sum(axis=(1, 2))
        smallest = max(1, int(np.ceil(inputs.min_area_fraction * image.width * image.height)))
        order = [int(i) for i in np.argsort(-areas, kind="stable") if areas[i] >= smallest]
        limit = inputs.max_masks or self.settings.max_masks
        chosen = order[:limit]
        return SegmentAllOutput(
            masks=[NewMask(masks[i], score=round(float(scores[i]), 4)) for i in chosen],
            areas=[int(areas[i]) for i in chosen],
            boxes=[list(mask_box(masks[i], f"mask {n}")) for n, i in enumerate(chosen)],
            scores=[round(float(scores[i]), 4) for i in chosen],
            stability=[round(float(stability[i]), 4) for i in chosen],
            found=len(order),
            points=decoded,
            embedding_cached=cached,
            image_size=[image.width, image.height],
        )
