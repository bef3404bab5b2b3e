"""A tiny random-weight Grounding DINO built in-process (no downloads), for offline tests and benches.

``build_tiny_detect(directory)`` writes a ``GroundingDinoForObjectDetection`` (tiny Swin backbone,
1-layer BERT text encoder, 2 decoder layers) and its ``GroundingDinoProcessor`` (a BERT word-piece
tokenizer from a small vocabulary, a PIL image processor that resizes to ``image_size``) into
``directory``, which the detect expert then loads with ``options={"model": str(directory)}``.
"""

from __future__ import annotations

import string
from pathlib import Path

# Grounding DINO hard-codes BERT's ids of its phrase separators (modeling SPECIAL_TOKENS):
# [CLS]=101, [SEP]=102, "."=1012, "?"=1029. The tiny vocabulary keeps them at those ids.
_FIXED = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 1012: ".", 1029: "?"}
_WORDS = ["a", "the", "person", "cat", "dog", "car", "red", "blue", "ball", "tree", "sign", "cup", "bird"]
_VOCAB_SIZE = 1200


def build_tiny_vocab() -> dict[str, int]:
    """A BERT word-piece vocabulary: separators at BERT's ids, letters, digits, word pieces, a few words."""
    tokens = [f"[unused{i}]" for i in range(_VOCAB_SIZE)]
    for index, token in _FIXED.items():
        tokens[index] = token
    pieces = list(string.ascii_lowercase + string.digits + ",-'")
    pieces += ["##" + c for c in string.ascii_lowercase + string.digits]
    pieces += [w for w in _WORDS if w not in pieces]
    for offset, token in enumerate(pieces):
        tokens[1030 + offset] = token
    return {token: index for index, token in enumerate(tokens)}


def build_tiny_detect(
    directory: str | Path,
    *,
    image_size: int = 64,
    d_model: int = 32,
    num_queries: int = 20,
    embed_dim: int = 8,
    seed: int = 0,
) -> Path:
    """Save a tiny random-weight Grounding DINO (model + processor) into ``directory``; return it.

    ``image_size`` is the shortest edge the processor resizes to (the longest is capped at 1.5x);
    the other sizes scale the network (a bench makes it bigger than the tests do).
    """
    import torch
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessorPil,
        GroundingDinoProcessor,
        SwinConfig,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab=build_tiny_vocab(), do_lower_case=True)
    text_config = BertConfig(
        vocab_size=_VOCAB_SIZE,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    backbone_config = SwinConfig(
        image_size=image_size,
        patch_size=4,
        embed_dim=embed_dim,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2],
        window_size=4,
        out_features=["stage2", "stage3", "stage4"],
    )
    config = GroundingDinoConfig(
        backbone_config=backbone_config,
        text_config=text_config,
        d_model=d_model,
        encoder_layers=1,
        decoder_layers=2,  # Grounding DINO needs >= 2
        encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_n_points=2,
        decoder_n_points=2,
        num_queries=num_queries,
        max_text_len=64,
    )
    torch.manual_seed(seed)
    model = GroundingDinoForObjectDetection(config).eval()
    image_processor = GroundingDinoImageProcessorPil(
        size={"shortest_edge": image_size, "longest_edge": image_size * 3 // 2}
    )
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    model.save_pretrained(directory)
    return directory
