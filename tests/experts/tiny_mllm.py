"""Tiny random-weight multimodal LLMs built in-process (no downloads), for offline tests.

``build_tiny_mllm(directory, family)`` saves a model plus everything its processor needs into
``directory`` in the same layout as the hub checkpoints (Qwen2-VL-Instruct,
``llava-hf/llava-1.5-7b-hf``), so the ``mllm`` expert loads it through its real loading code:

- ``qwen2_vl``: a 1-layer Qwen2-VL (vision tower and text model) with a PIL
  ``Qwen2VLImageProcessorPil`` limited to small images and a BPE tokenizer carrying the Qwen
  special tokens and a Qwen-style chat template. (No ``Qwen2VLProcessor`` is saved: without
  torchvision it cannot be built, as it insists on a video processor; the hub layout has the
  image processor and tokenizer files, which is what the expert reads.)
- ``llava``: a tiny CLIP vision tower plus a 1-layer Llama, a ``LlavaProcessor`` with a 32 px
  ``CLIPImageProcessor`` and a tokenizer with an ``<image>`` token and a LLaVA-1.5 chat template.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

QWEN2_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' ' }}{% endfor %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

_CORPUS = [
    "Describe this image in one sentence. A dog runs on the beach with a red ball.",
    "What is in the picture? Answer the question about the image briefly.",
    "USER: ASSISTANT: system user assistant You are a helpful assistant.",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 , . ; : ? !",
]

QWEN2_VL_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
LLAVA_SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]


def _bpe_tokenizer(specials: list[str], **named: str) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on a few sentences, with ``specials`` as unsplittable tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    extra = [t for t in specials if t not in named.values()]
    return PreTrainedTokenizerFast(tokenizer_object=tok, additional_special_tokens=extra, **named)


def build_tiny_qwen2_vl(directory: str | Path, *, seed: int = 0) -> Path:
    """Save a tiny random Qwen2-VL (weights, PIL image processor, tokenizer) into ``directory``."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _bpe_tokenizer(QWEN2_VL_SPECIALS, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN2_VL_CHAT_TEMPLATE
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN2_VL_SPECIALS}
    text_hidden, heads = 32, 2  # head_dim 16 = 2 * sum(mrope_section)
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": text_hidden,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": heads,
            "num_key_value_heads": 1,
            "max_position_embeddings": 1024,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": text_hidden,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    # 28 px = one merged 2x2 block of 14 px patches; images land between 56x56 and 112x112 pixels.
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    image_processor.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory


def build_tiny_llava(directory: str | Path, *, seed: int = 0) -> Path:
    """Save a tiny random LLaVA (CLIP vision tower + Llama, ``LlavaProcessor``) into ``directory``."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _bpe_tokenizer(
        LLAVA_SPECIALS, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    image_size, patch = 32, 8  # 16 patches + CLS; "default" strategy drops CLS -> 16 image tokens
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch,
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(image_size // patch) ** 2,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    processor.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory


def build_tiny_mllm(directory: str | Path, family: Literal["qwen2_vl", "llava"] = "qwen2_vl") -> Path:
    """Save a tiny random multimodal LLM of ``family`` into ``directory``; return it."""
    if family == "llava":
        return build_tiny_llava(directory)
    return build_tiny_qwen2_vl(directory)
