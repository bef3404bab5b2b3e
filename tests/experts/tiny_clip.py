"""A tiny random-weight CLIP built in-process (no downloads), for offline tests and benches.

``build_tiny_clip(directory)`` writes a ``CLIPModel`` (1-layer vision and text towers, hidden
size 32) and its ``CLIPProcessor`` (a byte-level ``CLIPTokenizer`` over single characters, a
PIL image processor at ``image_size``) into ``directory``, which the clip expert then loads
with ``options={"model": str(directory)}``.
"""

from __future__ import annotations

from pathlib import Path

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def build_tiny_clip_vocab() -> dict[str, int]:
    """Every byte-level character, alone and word-final (``</w>``), plus the two special tokens."""
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = [BOS, EOS, *alphabet, *(c + "</w>" for c in alphabet)]
    return {token: index for index, token in enumerate(tokens)}


def build_tiny_clip(directory: str | Path, *, image_size: int = 32, seed: int = 0) -> Path:
    """Save a tiny random-weight CLIP (model + processor) into ``directory``; return it."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        CLIPProcessor,
        CLIPTextConfig,
        CLIPTokenizer,
        CLIPVisionConfig,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab = build_tiny_clip_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=32)
    text_config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=32,
        bos_token_id=vocab[BOS],
        eos_token_id=vocab[EOS],
        pad_token_id=vocab[EOS],
    )
    vision_config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=8,
    )
    config = CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=16)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    model.save_pretrained(directory)
    return directory
