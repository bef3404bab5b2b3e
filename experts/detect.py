"""Detect: open-set object detection of named phrases with Grounding DINO (transformers)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from experts._geometry import enclosing_box
from experts._loading import DeviceSettings, load_model
from experts.base import Expert, ExpertError, ImageRef, NewBoxes
from loading import pick_device, pick_dtype


class DetectInput(BaseModel):
    image: ImageRef = Field(description="the image to search")
    phrases: list[str] = Field(
        description="what to find: one short noun phrase per kind of object, e.g. ['person', 'red car', "
        "'dog']; at least one, without '.' or '?'"
    )
    box_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="keep boxes whose confidence exceeds this (default $box_threshold); "
        "lower it to find more, fainter objects",
    )
    text_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="a box is labelled with a phrase only when that phrase's score exceeds this "
        "(default $text_threshold)",
    )


class DetectOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    detections: NewBoxes = Field(
        description="the objects found, highest score first: "
        "{box: [x0, y0, x1, y1], label: the phrase, score}"
    )
    count: int = Field(description="number of detections")
    image_size: list[int] = Field(description="[width, height] of the image searched")


class DetectSettings(DeviceSettings):
    """Options for the ``options:`` of the detect entry in the config (unknown keys are rejected)."""

    model: str = Field(
        default="IDEA-Research/grounding-dino-tiny",
        description="hub id or local directory of a transformers Grounding DINO checkpoint",
    )
    box_threshold: float = Field(default=0.35, ge=0.0, le=1.0, description="default box confidence cut")
    text_threshold: float = Field(default=0.25, ge=0.0, le=1.0, description="default phrase score cut")
    max_detections: int = Field(default=50, ge=1, le=900, description="keep at most this many boxes")


def _check_phrases(phrases: list[str]) -> list[str]:
    cleaned = [p.strip() for p in phrases]
    if not cleaned:
        raise ExpertError("phrases is empty; give at least one noun phrase to look for, e.g. ['person']")
    for i, phrase in enumerate(cleaned):
        if not phrase:
            raise ExpertError(f"phrases[{i}] is blank; give a noun phrase like 'red car'")
        if "." in phrase or "?" in phrase:
            raise ExpertError(
                f"phrases[{i}] '{phrase}' contains '.' or '?', which separate phrases for the model; "
                "give each object as its own phrase without them"
            )
    return cleaned


class Detect(Expert[DetectInput, DetectOutput]):
    name = "detect"
    extra = "vision"
    description = (
        "Find objects named by free-text phrases in an image (open-set detection, Grounding DINO). "
        "Returns 'detections': a boxes artifact with {box [x0, y0, x1, y1], label (one of your "
        "phrases), score} per object, highest score first, plus 'count' and 'image_size'. Use it to "
        "locate, count or box things ('person', 'red car', 'traffic light'); pass several phrases "
        "at once rather than calling once per phrase. No detections means nothing matched."
    )
    Input = DetectInput
    Output = DetectOutput
    Settings = DetectSettings

    settings: DetectSettings

    def setup(self) -> None:
        from transformers import AutoProcessor, GroundingDinoForObjectDetection

        s = self.settings
        self._device = pick_device(s.device)
        self._dtype = pick_dtype(s.dtype, self._device)
        self._processor = load_model(AutoProcessor.from_pretrained, s.model, expert=self.name)
        model = load_model(
            GroundingDinoForObjectDetection.from_pretrained, s.model, expert=self.name, dtype=self._dtype
        )
        self._model = model.to(self._device).eval()
        tokenizer = self._processor.tokenizer
        # The model splits the prompt into phrases at these tokens (its SPECIAL_TOKENS: [CLS] [SEP] . ?).
        separators = {tokenizer.convert_tokens_to_ids(t) for t in (".", "?")}
        self._separators = separators - {tokenizer.unk_token_id}
        self._specials = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
        self._max_text_len = int(self._model.config.max_text_len)

    def run(self, inputs: DetectInput) -> DetectOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[DetectInput]) -> list[DetectOutput | ExpertError]:
        """One forward pass for all valid items: images are padded, prompts padded to one length."""
        results: list[DetectOutput | ExpertError | None] = [None] * len(batch)
        valid: list[tuple[int, list[str], str]] = []
        for i, inputs in enumerate(batch):
            try:
                phrases = _check_phrases(inputs.phrases)
                prompt = ". ".join(p.lower() for p in phrases) + "."
                length = len(self._processor.tokenizer(prompt)["input_ids"])
                if length > self._max_text_len:
                    raise ExpertError(
                        f"the phrases make {length} tokens but the model reads at most {self._max_text_len}; "
                        "use fewer or shorter phrases, or split them over several calls"
                    )
                valid.append((i, phrases, prompt))
            except ExpertError as err:
                results[i] = err
        if valid:
            for (i, _, _), output in zip(valid, self._detect(batch, valid), strict=True):
                results[i] = output
        return [r for r in results if r is not None]

    def _detect(
        self, batch: list[DetectInput], valid: list[tuple[int, list[str], str]]
    ) -> list[DetectOutput]:
        import torch

        images = [batch[i].image.array for i, _, _ in valid]
        encoded = self._processor(
            images=images, text=[prompt for _, _, prompt in valid], padding=True, return_tensors="pt"
        )
        encoded = {k: v.to(self._device) for k, v in encoded.items()}
        encoded["pixel_values"] = encoded["pixel_values"].to(self._dtype)
        with torch.inference_mode():
            out = self._model(**encoded)
        probs = out.logits.float().sigmoid().cpu()  # (batch, queries, max_text_len)
        boxes = out.pred_boxes.float().cpu()  # (batch, queries, 4): cx, cy, w, h relative to the image
        input_ids = encoded["input_ids"].cpu()
        return [
            self._decode(batch[i], phrases, probs[row], boxes[row], input_ids[row])
            for row, (i, phrases, _) in enumerate(valid)
        ]

    def _phrase_of_token(self, input_ids: Any, num_phrases: int) -> list[int]:
        """For each prompt token, the index of the phrase it belongs to (-1 for [CLS], '.', padding)."""
        owner, phrase = [], 0
        for token in input_ids.tolist():
            if token in self._separators:
                owner.append(-1)
                phrase += 1
            elif token in self._specials or phrase >= num_phrases:
                owner.append(-1)
            else:
                owner.append(phrase)
        return owner

    def _decode(
        self, inputs: DetectInput, phrases: list[str], probs: Any, boxes: Any, input_ids: Any
    ) -> DetectOutput:
        """Grounding DINO's post-processing, labelling each box with the phrase its best token belongs to.

        A box's score is its highest token probability (as in ``post_process_grounded_object_detection``);
        its label is the phrase whose tokens score highest, kept only above ``text_threshold``. The
        processor's own post-processing is not used: its ``text_labels`` decode every token above the
        threshold, which can run across phrases ("cat. dog."), and it does not say which query a box is.
        """
        import torch
        from transformers.image_transforms import center_to_corners_format

        s = self.settings
        box_threshold = s.box_threshold if inputs.box_threshold is None else inputs.box_threshold
        text_threshold = s.text_threshold if inputs.text_threshold is None else inputs.text_threshold
        height, width = inputs.image.height, inputs.image.width

        owner = torch.tensor(self._phrase_of_token(input_ids, len(phrases)))
        probs = probs[:, : len(owner)]
        member = owner[None, :] == torch.arange(len(phrases))[:, None]  # (phrases, tokens)
        # (queries, phrases): each phrase's best token probability
        per_phrase = torch.where(member[None], probs[:, None, :], torch.zeros(())).amax(-1)
        phrase_score, phrase = per_phrase.max(-1)
        score = probs.amax(-1)
        corners: Any = center_to_corners_format(boxes) * torch.tensor([width, height, width, height])

        items: list[dict[str, Any]] = []
        keep = (score > box_threshold) & (phrase_score > text_threshold)
        for q in keep.nonzero().flatten().tolist():
            x0, y0, x1, y1 = corners[q].tolist()
            items.append(
                {
                    "box": enclosing_box([(x0, y0), (x1, y1)], width, height),
                    "label": phrases[int(phrase[q])],
                    "score": round(float(score[q]), 3),
                }
            )
        items.sort(key=lambda item: -item["score"])
        items = items[: s.max_detections]
        return DetectOutput(detections=NewBoxes(items=items), count=len(items), image_size=[width, height])
