"""Clip: zero-shot classification of an image or its regions, and ranking images by a text, with CLIP."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from experts._clip_encoder import ClipEncoder
from experts._geometry import Box, check_box_inside
from experts._loading import DeviceSettings
from experts.base import Expert, ExpertError, ImageRef, NewBoxes


class ClipInput(BaseModel):
    mode: Literal["classify", "rank"] = Field(
        default="classify",
        description="'classify': which of 'labels' fits 'image' (or each of its 'boxes'); "
        "'rank': order 'images' by how well they match 'query'",
    )
    image: ImageRef | None = Field(default=None, description="classify: the image to classify")
    labels: list[str] | None = Field(
        default=None,
        description="classify: the candidate labels, e.g. ['cat', 'dog', 'car']; when omitted, COCO's 80 "
        "object classes (person, bicycle, car, ... toothbrush) are the labels",
    )
    boxes: list[Box] | None = Field(
        default=None,
        description="classify, optional: regions [x0, y0, x1, y1] (pixels) to classify one by one "
        "instead of the whole image",
    )
    images: list[ImageRef] | None = Field(default=None, description="rank: the images to rank")
    query: str | None = Field(default=None, description="rank: the text to match, e.g. 'a dog on a beach'")


class ClipOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    mode: str = Field(description="the mode that ran")
    predictions: list[dict[str, Any]] = Field(
        default_factory=list,
        description="classify: one per region (or one for the whole image): "
        "{box (regions only), label: the best label, score, probabilities: {label: p} best first}",
    )
    label: str | None = Field(default=None, description="classify without boxes: the best label")
    score: float | None = Field(default=None, description="classify without boxes: its probability")
    regions: NewBoxes | None = Field(
        default=None, description="classify with boxes: a boxes artifact {box, label, score} per region"
    )
    ranking: list[dict[str, Any]] = Field(
        default_factory=list,
        description="rank: best match first: {image: handle, rank, score: probability among these "
        "images, similarity: cosine similarity}",
    )


class ClipSettings(DeviceSettings):
    """Options for the ``options:`` of the clip entry in the config (unknown keys are rejected)."""

    model: str = Field(
        default="openai/clip-vit-base-patch32",
        description="hub id or local directory of a transformers CLIP checkpoint",
    )
    label_template: str = Field(
        default="a photo of {}.", description="prompt each classify label is put in ('{}' marks the label)"
    )

    @field_validator("label_template")
    @classmethod
    def _has_slot(cls, value: str) -> str:
        if value.count("{}") != 1:
            raise ValueError(f"label_template must contain '{{}}' exactly once, got {value!r}")
        return value


@dataclass
class _Plan:
    """One item of a batch: which images (whole or cropped) and which texts it compares."""

    images: list[Any] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    image_rows: list[int] = field(default_factory=list)
    text_rows: list[int] = field(default_factory=list)


@cache
def coco_labels() -> tuple[str, ...]:
    """COCO's 80 object classes: the labels of ``classify`` when a call gives none (package data)."""
    text = files("experts").joinpath("coco_labels.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _labels(inputs: ClipInput) -> list[str]:
    """The call's labels, cleaned; COCO's 80 classes when it gives none."""
    if inputs.labels is None:
        return list(coco_labels())
    return _clean_list(inputs.labels, "labels", "['cat', 'dog'] (or omit labels for COCO's 80 classes)")


def _clean_list(values: list[str] | None, name: str, example: str) -> list[str]:
    if not values:
        raise ExpertError(f"{name} is empty; give at least one, e.g. {example}")
    cleaned = [v.strip() for v in values]
    for i, value in enumerate(cleaned):
        if not value:
            raise ExpertError(f"{name}[{i}] is blank; give a short text, e.g. {example}")
        if value in cleaned[:i]:
            raise ExpertError(f"{name}[{i}] '{value}' repeats {name}[{cleaned.index(value)}]; give each once")
    return cleaned


class Clip(Expert[ClipInput, ClipOutput]):
    name = "clip"
    extra = "vision"
    description = (
        "Zero-shot image classification and text-image matching with CLIP. mode 'classify': "
        "image + labels (COCO's 80 object classes when omitted) (+ optional boxes) → the probability "
        "of each label for the whole image, "
        "or for each box (then also 'regions', a boxes artifact labelling each box). mode 'rank': "
        "images + query → the images ordered by how well they match the text. Use it to name what "
        "a region shows, to choose between candidate descriptions, or to pick the image that fits."
    )
    Input = ClipInput
    Output = ClipOutput
    Settings = ClipSettings

    settings: ClipSettings

    def setup(self) -> None:
        s = self.settings
        self._clip = ClipEncoder(s.model, device=s.device, dtype=s.dtype, expert=self.name)
        self._scale = self._clip.scale

    def run(self, inputs: ClipInput) -> ClipOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[ClipInput]) -> list[ClipOutput | ExpertError]:
        """One image forward pass and one text forward pass for the whole batch."""
        plans: list[_Plan | ExpertError] = []
        for inputs in batch:
            try:
                plans.append(self._plan(inputs))
            except ExpertError as err:
                plans.append(err)
        images: list[Any] = []
        texts: dict[str, int] = {}
        for plan in plans:
            if isinstance(plan, _Plan):
                plan.image_rows = list(range(len(images), len(images) + len(plan.images)))
                images += plan.images
                plan.text_rows = [texts.setdefault(t, len(texts)) for t in plan.texts]
        if not images:
            return [p for p in plans if isinstance(p, ExpertError)]
        image_emb, text_emb = self._embed(images, list(texts))
        return [
            plan if isinstance(plan, ExpertError) else self._answer(inputs, plan, image_emb, text_emb)
            for inputs, plan in zip(batch, plans, strict=True)
        ]

    def _plan(self, inputs: ClipInput) -> _Plan:
        if inputs.mode == "rank":
            if inputs.image is not None or inputs.labels or inputs.boxes:
                raise ExpertError(
                    "mode 'rank' takes 'images' and 'query'; image, labels and boxes are for 'classify'"
                )
            if not inputs.images:
                raise ExpertError(
                    "mode 'rank' needs 'images': a list of image handles, e.g. ['image-1', 'image-2']"
                )
            if not inputs.query or not inputs.query.strip():
                raise ExpertError("mode 'rank' needs 'query': the text to match, e.g. 'a dog on a beach'")
            return _Plan(images=[image.array for image in inputs.images], texts=[inputs.query.strip()])
        if inputs.images or inputs.query:
            raise ExpertError("mode 'classify' takes 'image' and 'labels'; images and query are for 'rank'")
        if inputs.image is None:
            raise ExpertError("mode 'classify' needs 'image': the handle of the image, e.g. 'image-1'")
        labels = _labels(inputs)
        texts = [self.settings.label_template.format(label) for label in labels]
        image = inputs.image
        if inputs.boxes is None:
            return _Plan(images=[image.array], texts=texts)
        if not inputs.boxes:
            raise ExpertError("boxes is empty; omit it to classify the whole image, or give at least one box")
        crops = []
        for i, box in enumerate(inputs.boxes):
            x0, y0, x1, y1 = check_box_inside(box, image.width, image.height, name=f"boxes[{i}]")
            crops.append(image.array[y0:y1, x0:x1])
        return _Plan(images=crops, texts=texts)

    def _embed(self, images: list[Any], texts: list[str]) -> tuple[Any, Any]:
        """Unit-length image and text embeddings (CPU float32)."""
        return self._clip.embed(images, texts)

    def _answer(self, inputs: ClipInput, plan: _Plan, image_emb: Any, text_emb: Any) -> ClipOutput:
        """Softmax over the item's labels (classify) or images (rank) of the scaled cosine similarities."""
        scale = self._scale
        similarity = image_emb[plan.image_rows] @ text_emb[plan.text_rows].T  # (images, texts)
        if inputs.mode == "rank":
            cosine = similarity[:, 0]
            probs = (scale * cosine).softmax(0)
            order = probs.argsort(descending=True).tolist()
            ranking = [
                {
                    "image": inputs.images[k].handle,  # type: ignore[index]
                    "rank": r + 1,
                    "score": round(float(probs[k]), 4),
                    "similarity": round(float(cosine[k]), 4),
                }
                for r, k in enumerate(order)
            ]
            return ClipOutput(mode="rank", ranking=ranking)
        labels = _labels(inputs)
        probs = (scale * similarity).softmax(-1)
        predictions = []
        for row in probs:
            order = row.argsort(descending=True).tolist()
            predictions.append(
                {
                    "label": labels[order[0]],
                    "score": round(float(row[order[0]]), 4),
                    "probabilities": {labels[k]: round(float(row[k]), 4) for k in order},
                }
            )
        if inputs.boxes is None:
            top = predictions[0]
            return ClipOutput(
                mode="classify", predictions=predictions, label=top["label"], score=top["score"]
            )
        predictions = [
            {"box": [int(v) for v in box]} | prediction
            for prediction, box in zip(predictions, inputs.boxes, strict=True)
        ]
        regions = NewBoxes(
            items=[{"box": p["box"], "label": p["label"], "score": p["score"]} for p in predictions]
        )
        return ClipOutput(mode="classify", predictions=predictions, regions=regions)
