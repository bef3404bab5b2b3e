"""MLLM: an end-to-end multimodal LLM (Qwen2-VL or LLaVA through transformers) that looks at an image
and answers in text: a caption, an answer to a question, a description of a region, or a direct
answer to the user's whole task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from experts._chat_generate import generate_chat
from experts._geometry import BOX_DESCRIPTION, Box, check_box_inside, size_text
from experts._loading import DeviceSettings
from experts.base import Expert, ExpertError, ImageRef, NewText
from loading import pick_device, pick_dtype

Mode = Literal["caption", "vqa", "region", "answer"]

CAPTION_PROMPT = "Describe this image in one or two sentences."
VQA_PROMPT = "{question}\nAnswer briefly."
REGION_PROMPT = "Describe what this image region shows in one or two sentences."
REGION_QUESTION_PROMPT = "This image is a region cut from a larger image. {question}"
ANSWER_PROMPT = "{question}"


class MllmInput(BaseModel):
    image: ImageRef = Field(description="the image to look at")
    mode: Mode = Field(
        default="caption",
        description="'caption': describe the whole image; 'vqa': answer `question` about the image "
        "briefly; 'region': describe the region `box` (or answer `question` about it); 'answer': "
        "`question` holds the user's whole task, answered end to end",
    )
    question: str | None = Field(
        default=None,
        description="required for 'vqa' (the question) and 'answer' (the user's whole task); optional "
        "for 'region' (a question about the region); not used by 'caption'",
    )
    box: Box | None = Field(
        default=None, description="required for 'region' and only used there: " + BOX_DESCRIPTION
    )
    max_new_tokens: int | None = Field(
        default=None, ge=1, le=512, description="longest answer in tokens (default $max_new_tokens)"
    )


class MllmOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str = Field(description="the model's answer")
    mode: Mode = Field(description="the mode that was run")
    answer: NewText = Field(description="the answer stored as a text artifact")
    region: list[int] | None = Field(
        default=None,
        description="region mode: [x0, y0, x1, y1] of the crop shown to the model (the box plus context)",
    )


class MllmSettings(DeviceSettings):
    """Options for the ``options:`` of the mllm entry in the config (unknown keys are rejected).

    ``family`` picks the architecture and must match the checkpoint in ``model`` (a hub id or a
    local directory holding it):

    - ``qwen2_vl`` (default): ``Qwen/Qwen2-VL-2B-Instruct`` (the default model) or
      ``Qwen/Qwen2-VL-7B-Instruct``;
    - ``llava``: LLaVA-1.5 checkpoints converted for transformers, e.g. ``llava-hf/llava-1.5-7b-hf``
      or ``llava-hf/llava-1.5-13b-hf``; ``model`` must then be set.
    """

    family: Literal["llava", "qwen2_vl"] = Field(
        default="qwen2_vl", description="model architecture: 'qwen2_vl' or 'llava' (LLaVA-1.5)"
    )
    model: str = Field(
        default="Qwen/Qwen2-VL-2B-Instruct",
        description="hub id or local directory of a checkpoint of `family`",
    )
    max_new_tokens: int = Field(default=128, ge=1, le=512, description="longest answer in tokens")
    region_context: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="region mode: context kept on every side of the box, as a fraction of its longer side",
    )

    @model_validator(mode="after")
    def _llava_needs_a_model(self) -> MllmSettings:
        if self.family == "llava" and "model" not in self.model_fields_set:
            raise ValueError(
                "family 'llava' needs options.model: a LLaVA-1.5 checkpoint such as "
                "'llava-hf/llava-1.5-7b-hf' or a local directory holding one"
            )
        return self


@dataclass
class _Request:
    """One valid input, ready for the batch: the pixels shown, the prompt, its token limit."""

    pixels: np.ndarray
    prompt: str
    max_new_tokens: int
    region: list[int] | None


class Mllm(Expert[MllmInput, MllmOutput]):
    name = "mllm"
    extra = "vision"
    description = (
        "Ask a multimodal LLM about an image; it answers in text. mode 'caption': describe the whole "
        "image; 'vqa': answer `question` about the image; 'region': describe the part inside `box` "
        "[x0, y0, x1, y1] (pixels; it sees that crop plus a little context), or answer `question` "
        "about it; 'answer': pass the user's whole task as `question` to have it answered end to end "
        "from the image. Returns 'text' (the answer) and 'answer' (the same text as a text artifact). "
        "Its answers can be wrong about counts, small text and exact positions: check those with the "
        "detection and OCR experts when they matter."
    )
    Input = MllmInput
    Output = MllmOutput
    Settings = MllmSettings
    thread_safe = False  # one generate at a time per replica; concurrent calls share batches instead
    answers_tasks = True

    settings: MllmSettings

    @classmethod
    def is_task_call(cls, arguments: Mapping[str, Any]) -> bool:
        """Mode ``answer`` hands over the user's whole task."""
        return arguments.get("mode") == "answer"

    def setup(self) -> None:
        from experts._mllm_families import FAMILIES, greedy_config, load_family

        s = self.settings
        device = pick_device(s.device)
        self._family = FAMILIES[s.family]
        self._processor, self._model = load_family(
            s.family, s.model, expert=self.name, device=device, dtype=pick_dtype(s.dtype, device)
        )
        self._generation = greedy_config(self._model, self._processor.tokenizer.pad_token_id)

    def run(self, inputs: MllmInput) -> MllmOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[MllmInput]) -> list[MllmOutput | ExpertError]:
        """One batched ``generate`` for every valid input; bad inputs get their own ExpertError."""
        results: list[MllmOutput | ExpertError | None] = [None] * len(batch)
        requests: dict[int, _Request] = {}
        for i, item in enumerate(batch):
            try:
                requests[i] = self._prepare(item)
            except ExpertError as err:
                results[i] = err
        if requests:
            texts = self._generate(list(requests.values()))
            for (i, request), text in zip(requests.items(), texts, strict=True):
                results[i] = MllmOutput(
                    text=text, mode=batch[i].mode, answer=NewText(text), region=request.region
                )
        return [r for r in results if r is not None]

    def _prepare(self, item: MllmInput) -> _Request:
        """Check one input against its mode and build what the model is shown."""
        image, mode = item.image, item.mode
        question = (item.question or "").strip() or None
        if mode in ("vqa", "answer") and question is None:
            what = "the question" if mode == "vqa" else "the user's whole task"
            raise ExpertError(f"mode '{mode}' needs a question: pass {what} in `question`")
        if mode == "caption" and question is not None:
            raise ExpertError("mode 'caption' takes no question; use mode 'vqa' to ask about the image")
        if mode != "region" and item.box is not None:
            raise ExpertError(
                f"box is only used in mode 'region', not '{mode}'; use mode 'region' to look at a box"
            )
        pixels, region = image.array, None
        if mode == "region":
            if item.box is None:
                raise ExpertError("mode 'region' needs a box [x0, y0, x1, y1] in pixels around the region")
            region = self._context_box(item.box, image.width, image.height)
            x0, y0, x1, y1 = region
            pixels = np.ascontiguousarray(pixels[y0:y1, x0:x1])
        height, width = pixels.shape[:2]
        limit = self._family.max_aspect_ratio
        if limit is not None and max(width, height) / min(width, height) > limit:
            shown = "the region" if region else "the image"
            raise ExpertError(
                f"{shown} is {size_text(width, height)}, more than {limit:g} times longer than wide, which "
                f"this model cannot read; crop or resize it to a less elongated shape first"
            )
        prompt = {
            "caption": CAPTION_PROMPT,
            "vqa": VQA_PROMPT,
            "region": REGION_QUESTION_PROMPT if question else REGION_PROMPT,
            "answer": ANSWER_PROMPT,
        }[mode].format(question=question)
        return _Request(pixels, prompt, item.max_new_tokens or self.settings.max_new_tokens, region)

    def _context_box(self, box: list[int], width: int, height: int) -> list[int]:
        """``box`` (checked to lie inside the image) grown by the context margin, clipped to the image."""
        x0, y0, x1, y1 = check_box_inside(box, width, height)
        pad = round(self.settings.region_context * max(x1 - x0, y1 - y0))
        return [max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, width), min(y1 + pad, height)]

    def _generate(self, requests: list[_Request]) -> list[str]:
        """Greedy answers for ``requests`` from one left-padded batched ``generate``."""
        from PIL import Image

        conversations = [
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "image": Image.fromarray(r.pixels)},
                        {"type": "text", "text": r.prompt},
                    ],
                }
            ]
            for r in requests
        ]
        limits = [r.max_new_tokens for r in requests]
        return generate_chat(self._processor, self._model, self._generation, conversations, limits)
