"""Segment: SAM masks from box and point prompts, with the image embedding cached per replica.

The vision encoder is the expensive part of SAM; its output for an image is kept in an LRU
cache keyed by the pixels (not the per-session handle), so later prompts on the same image
only run the small prompt encoder and mask decoder.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from experts._geometry import Box, check_box_inside, size_text
from experts._loading import DeviceSettings, load_model
from experts._sam_backend import Embedding, Prompts, SamBackend
from experts.base import Expert, ExpertError, ImageData, ImageRef, NewMask
from loading import pick_device, pick_dtype

Point = Annotated[list[float], Field(min_length=2, max_length=2, description="[x, y] pixel coordinates")]


class SegmentInput(BaseModel):
    image: ImageRef = Field(description="the image to segment")
    boxes: list[Box] = Field(
        default_factory=list,
        max_length=32,
        description="box prompts, one mask per box: [[x0, y0, x1, y1], ...] in pixels (e.g. from a detector)",
    )
    points: list[Point] = Field(
        default_factory=list,
        max_length=16,
        description="point prompts [[x, y], ...] in pixels; without boxes all points together give one mask, "
        "with boxes they refine every box's mask",
    )
    point_labels: list[Literal[0, 1]] | None = Field(
        default=None,
        description="one label per point: 1 = on the object, 0 = background (not the object); default all 1",
    )
    multimask: bool = Field(
        default=False,
        description="return SAM's 3 candidate masks per prompt (best first) instead of only the best one; "
        "useful for an ambiguous single click",
    )


class SegmentOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    masks: list[NewMask] = Field(
        description="one mask per box (or one for the points), or 3 per prompt with multimask; "
        "each has the image's size"
    )
    scores: list[float] = Field(description="SAM's predicted IoU (mask quality, 0-1) of each mask")
    areas: list[int] = Field(description="number of pixels in each mask")
    prompt_index: list[int] = Field(
        description="for each mask, the index of the box it answers (0 for the point set when no boxes)"
    )
    embedding_cached: bool = Field(
        description="true when this image's embedding was reused from an earlier call (fast path)"
    )
    image_size: list[int] = Field(description="[width, height] of the image")


class SegmentSettings(DeviceSettings):
    """Options for the ``options:`` of the segment entry in the config (unknown keys are rejected)."""

    model: str = Field(
        default="facebook/sam-vit-base",
        description="transformers SAM: hub id or local directory with the model and its processor",
    )
    embedding_cache_mb: float = Field(
        default=512,
        ge=0,
        description="MiB of image embeddings kept per replica, on its device (LRU; sam-vit-base: 4 MiB "
        "per image in float32, 2 in float16); 0 turns the cache off",
    )
    mask_threshold: float = Field(default=0.0, description="mask logit threshold (0 = SAM's own)")
    backend: Literal["transformers", "segment_anything"] = Field(
        default="transformers",
        description="segment_anything: the official package with an original .pth checkpoint "
        "(pip install 'mm-reactor[sam-original]', needs torchvision)",
    )
    checkpoint: str | None = Field(
        default=None, description="segment_anything backend only: path of the original SAM .pth file"
    )
    model_type: str = Field(
        default="vit_b", description="segment_anything backend only: vit_b, vit_l or vit_h (match the .pth)"
    )

    @model_validator(mode="after")
    def _checkpoint_for_original(self) -> SegmentSettings:
        if self.backend == "segment_anything" and not self.checkpoint:
            raise ValueError(
                "backend 'segment_anything' needs checkpoint: the path of an original SAM .pth file "
                "(e.g. sam_vit_b_01ec64.pth, with model_type vit_b)"
            )
        return self


def image_key(array: np.ndarray) -> str:
    """A content key for an image: a hash of its pixels plus its shape (handles are per session)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.blake2b(array.data.cast("B"), digest_size=16).hexdigest()
    return f"{digest}-{'x'.join(map(str, array.shape))}-{array.dtype}"


def cache_key(image: ImageData) -> str:
    """The embedding cache's key: the content id the pixels came with (no hashing), else their hash."""
    return f"id:{image.content_id}" if image.content_id else image_key(image.array)


class EmbeddingCache:
    """Image embeddings by content key; least recently used ones leave first when over ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, Embedding] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> Embedding | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: str, entry: Embedding) -> None:
        if entry.nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self._entries[key] = entry
            self.nbytes += entry.nbytes
            while self.nbytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.nbytes -= evicted.nbytes


def check_prompts(inputs: SegmentInput) -> Prompts:
    """The call's prompts as arrays, or an ExpertError saying what is wrong with them."""
    width, height = inputs.image.width, inputs.image.height
    if not inputs.boxes and not inputs.points:
        raise ExpertError(
            "segment needs at least one prompt: give boxes [[x0, y0, x1, y1], ...] around the objects "
            "and/or points [[x, y], ...] on them"
        )
    boxes = [check_box_inside(box, width, height, name=f"boxes[{i}]") for i, box in enumerate(inputs.boxes)]
    for i, (x, y) in enumerate(inputs.points):
        if not (0 <= x < width and 0 <= y < height):
            raise ExpertError(
                f"points[{i}] [{x:g}, {y:g}] lies outside the {size_text(width, height)} image; give pixel "
                f"coordinates inside it (0 <= x < {width}, 0 <= y < {height})"
            )
    labels = inputs.point_labels
    if labels is not None and not inputs.points:
        raise ExpertError("point_labels were given without points; give one [x, y] point per label")
    if labels is not None and len(labels) != len(inputs.points):
        raise ExpertError(
            f"{len(labels)} point_labels for {len(inputs.points)} points; give one label (1 = object, "
            "0 = background) per point, or leave point_labels out"
        )
    if inputs.points and labels is None:
        labels = [1] * len(inputs.points)
    return Prompts(
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4) if boxes else None,
        points=np.asarray(inputs.points, dtype=np.float32).reshape(-1, 2) if inputs.points else None,
        labels=np.asarray(labels, dtype=np.int64) if labels else None,
    )


class TransformersSam:
    """SAM through transformers (``SamModel`` + ``SamProcessor``): embed images, decode prompts."""

    def __init__(self, settings: SegmentSettings, expert: str = "segment") -> None:
        import torch
        from transformers import SamModel, SamProcessor

        self.device = pick_device(settings.device)
        self.dtype = pick_dtype(settings.dtype, self.device)
        self.threshold = settings.mask_threshold
        processor = load_model(SamProcessor.from_pretrained, settings.model, expert=expert)
        self.image_processor = processor.image_processor
        model = load_model(SamModel.from_pretrained, settings.model, expert=expert, dtype=self.dtype)
        self.model = model.to(self.device).eval()
        self._torch = torch

    def embed(self, arrays: list[np.ndarray]) -> list[Embedding]:
        """Embeddings of several images in one vision-encoder pass."""
        encoded = self.image_processor(images=arrays, input_data_format="channels_last", return_tensors="pt")
        pixels = encoded["pixel_values"].to(self.device, self.dtype)
        with self._torch.inference_mode():
            tensors = self.model.get_image_embeddings(pixels)
        sizes = encoded["reshaped_input_sizes"].tolist()
        # clone: a cached view would keep the whole batch's tensor alive
        return [Embedding(tensors[i : i + 1].clone(), (int(h), int(w))) for i, (h, w) in enumerate(sizes)]

    def decode(self, embedding: Embedding, prompts: Prompts) -> tuple[Any, Any]:
        """Low-res mask logits PxKxhxw and predicted IoUs PxK for prompts in model-input pixels."""
        torch = self._torch
        count = len(prompts.boxes) if prompts.boxes is not None else 1
        kwargs: dict[str, Any] = {}
        if prompts.boxes is not None:
            kwargs["input_boxes"] = torch.from_numpy(prompts.boxes)[None].to(self.device)
        if prompts.points is not None:
            points = torch.from_numpy(prompts.points)[None, None].expand(1, count, -1, -1)
            labels = torch.from_numpy(prompts.labels)[None, None].expand(1, count, -1)
            kwargs["input_points"] = points.to(self.device)
            kwargs["input_labels"] = labels.to(self.device)
        with torch.inference_mode():
            out = self.model(image_embeddings=embedding.tensor, multimask_output=True, **kwargs)
        return out.pred_masks[0], out.iou_scores[0]

    def upscale(self, logits: Any, embedding: Embedding, original_size: tuple[int, int]) -> np.ndarray:
        """PxKxhxw logits → PxKxHxW bool masks at the original image size."""
        (masks,) = self.image_processor.post_process_masks(
            [logits.float()], [original_size], [embedding.input_size], mask_threshold=self.threshold
        )
        return masks.cpu().numpy()


class Segment(Expert[SegmentInput, SegmentOutput]):
    name = "segment"
    extra = "vision"
    description = (
        "Segment objects with SAM (Segment Anything) from prompts: 'boxes' (one mask per box, e.g. "
        "boxes from a detector) and/or 'points' [[x, y], ...] on the object (with optional "
        "'point_labels', 1 = object, 0 = background; all points together give one mask). Returns "
        "'masks' (mask artifacts at the image size, each with its predicted-quality score), 'scores' "
        "and 'areas' in pixels. Use it to outline, measure or cut out an object once you know where "
        "it is; it does not find objects by name. Prompting the same image again is fast."
    )
    Input = SegmentInput
    Output = SegmentOutput
    Settings = SegmentSettings

    settings: SegmentSettings

    def setup(self) -> None:
        s = self.settings
        if s.backend == "segment_anything":
            from experts._sam_original import OriginalSam

            self.backend: SamBackend = OriginalSam(
                checkpoint=str(s.checkpoint),
                model_type=s.model_type,
                device=s.device,
                dtype=s.dtype,
                mask_threshold=s.mask_threshold,
            )
        else:
            self.backend = TransformersSam(s)
        self.cache = EmbeddingCache(int(s.embedding_cache_mb * 2**20))

    def run(self, inputs: SegmentInput) -> SegmentOutput:
        (result,) = self.run_batch([inputs])
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[SegmentInput]) -> list[SegmentOutput | ExpertError]:
        """One vision-encoder pass for the uncached distinct images, then one decoder pass per item."""
        results: list[SegmentOutput | ExpertError | None] = [None] * len(batch)
        checked: dict[int, tuple[Prompts, str]] = {}
        for i, inputs in enumerate(batch):
            try:
                checked[i] = (check_prompts(inputs), cache_key(inputs.image))
            except ExpertError as err:
                results[i] = err
        embeddings: dict[str, Embedding] = {}
        missing: dict[str, np.ndarray] = {}
        for i, (_, key) in checked.items():
            if key in embeddings or key in missing:
                continue
            found = self.cache.get(key)
            if found is not None:
                embeddings[key] = found
            else:
                missing[key] = batch[i].image.array
        cached = set(embeddings)
        if missing:
            for key, embedding in zip(missing, self.backend.embed(list(missing.values())), strict=True):
                embeddings[key] = embedding
                self.cache.put(key, embedding)
        for i, (prompts, key) in checked.items():
            results[i] = self._segment(batch[i], prompts, embeddings[key], key in cached)
        return [r for r in results if r is not None]  # every slot is filled by now

    def _segment(
        self, inputs: SegmentInput, prompts: Prompts, embedding: Embedding, cached: bool
    ) -> SegmentOutput:
        height, width = inputs.image.height, inputs.image.width
        new_h, new_w = embedding.input_size
        scale = np.array([new_w / width, new_h / height], dtype=np.float32)
        resized = Prompts(
            boxes=None if prompts.boxes is None else prompts.boxes * np.tile(scale, 2),
            points=None if prompts.points is None else prompts.points * scale,
            labels=prompts.labels,
        )
        logits, ious = self.backend.decode(embedding, resized)
        ious = ious.float()
        order = ious.argsort(dim=1, descending=True)
        if not inputs.multimask:
            order = order[:, :1]
        logits = logits.gather(1, order[:, :, None, None].expand(-1, -1, *logits.shape[-2:]))
        scores = ious.gather(1, order).cpu().numpy()
        masks = self.backend.upscale(logits, embedding, (height, width))
        out_masks, out_scores, areas, index = [], [], [], []
        for p in range(masks.shape[0]):
            for k in range(masks.shape[1]):
                mask = np.ascontiguousarray(masks[p, k], dtype=bool)
                score = round(float(scores[p, k]), 4) + 0.0  # no -0.0
                out_masks.append(NewMask(mask, score=score))
                out_scores.append(score)
                areas.append(int(mask.sum()))
                index.append(p)
        return SegmentOutput(
            masks=out_masks,
            scores=out_scores,
            areas=areas,
            prompt_index=index,
            embedding_cached=cached,
            image_size=[width, height],
        )
