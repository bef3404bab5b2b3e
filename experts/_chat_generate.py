"""One batched, greedy ``generate`` over chat conversations with a multimodal processor (the mllm,
video and text experts share it)."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["generate_chat"]


def generate_chat(
    processor: Any, model: Any, generation: Any, conversations: list[list[dict[str, Any]]], limits: list[int]
) -> list[str]:
    """The answer to each conversation from one left-padded batched ``generate`` with ``generation``
    (a greedy ``GenerationConfig``), each cut at its own token limit in ``limits``.

    Greedy decoding: an answer's first n tokens do not depend on how many more are generated, so one
    call with the largest limit serves every row. Control tokens in the texts (``<image>``,
    ``<|video_pad|>`` …) stay plain text (``sanitize_control_tokens``).
    """
    import torch

    inputs = processor.apply_chat_template(
        conversations,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        sanitize_control_tokens=True,
        processor_kwargs={"padding": True, "padding_side": "left"},
    )
    inputs = inputs.to(model.device, dtype=model.dtype)  # dtype: floating tensors only
    config = copy.copy(generation)
    config.max_new_tokens = max(limits)
    with torch.inference_mode():
        output = model.generate(**inputs, generation_config=config)
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    return [
        processor.decode(row[:limit], skip_special_tokens=True).strip()
        for row, limit in zip(new_tokens, limits, strict=True)
    ]
