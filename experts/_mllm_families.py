"""How the ``mllm`` expert loads each model family: its model class and its processor.

Imported by ``Mllm.setup()`` only: it imports transformers at module level.

- ``qwen2_vl``: ``Qwen2VLForConditionalGeneration`` with :class:`Qwen2VLImageOnlyProcessor`.
  Images of any size batch together (each image becomes its own number of patches).
- ``llava``: ``LlavaForConditionalGeneration`` with the checkpoint's ``AutoProcessor``
  (``LlavaProcessor``). Every image is resized to the vision tower's square input, so images of
  any size batch together too.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from transformers import (
    AutoConfig,
    AutoProcessor,
    GenerationConfig,
    LlavaForConditionalGeneration,
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
)
from transformers.processing_utils import ProcessorMixin

from experts._loading import load_model
from loading import ModelNotAvailable

__all__ = ["FAMILIES", "Family", "Qwen2VLImageOnlyProcessor", "greedy_config", "load_family"]


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """``Qwen2VLProcessor`` for images only: the same image-token expansion and chat template.

    The stock processor requires a ``Qwen2VLVideoProcessor``, which needs torchvision (not part of
    the default install) even when no video is ever sent. Loads from the same checkpoint files
    (``preprocessor_config.json``, tokenizer files, chat template).
    """

    def __init__(
        self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any
    ):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


@dataclass(frozen=True)
class Family:
    """What one family loads, and the limits its processor puts on images."""

    model_type: str
    model_class: type[Any]
    processor_class: type[Any]
    max_aspect_ratio: float | None = None


FAMILIES: dict[str, Family] = {
    # Qwen2-VL's resizing refuses images more than 200 times longer than wide.
    "qwen2_vl": Family("qwen2_vl", Qwen2VLForConditionalGeneration, Qwen2VLImageOnlyProcessor, 200.0),
    "llava": Family("llava", LlavaForConditionalGeneration, AutoProcessor),
}


def load_family(family: str, model: str, *, expert: str, device: str, dtype: Any) -> tuple[Any, Any]:
    """``(processor, model)`` of checkpoint ``model``, which must be of ``family``; model in eval mode."""
    spec = FAMILIES[family]
    config = load_model(AutoConfig.from_pretrained, model, expert=expert)
    if config.model_type != spec.model_type:
        others = [name for name, f in FAMILIES.items() if f.model_type == config.model_type]
        hint = f"set options.family to '{others[0]}'" if others else f"give a {family} checkpoint"
        raise ModelNotAvailable(
            f"expert '{expert}': model '{model}' is a '{config.model_type}' checkpoint but options.family "
            f"is '{family}'; {hint}"
        )
    processor = load_model(spec.processor_class.from_pretrained, model, expert=expert)
    network = load_model(spec.model_class.from_pretrained, model, expert=expert, dtype=dtype)
    network.to(device).eval()
    tokenizer = processor.tokenizer
    if tokenizer.pad_token is None:  # batches are left-padded; generation never attends to the padding
        tokenizer.pad_token = tokenizer.eos_token
    return processor, network


def greedy_config(network: Any, pad_token_id: int | None) -> GenerationConfig:
    """The checkpoint's generation config switched to greedy decoding (sampling settings cleared)."""
    config = copy.deepcopy(network.generation_config)
    config.do_sample = False
    config.num_beams = 1
    config.temperature = config.top_p = config.top_k = None
    if config.pad_token_id is None:
        config.pad_token_id = pad_token_id
    return config
