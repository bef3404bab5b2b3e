"""A tiny randomly initialised SAM (transformers ``SamModel``) and its processor, saved to a directory.

Used by the segment tests, the GPU smoke test and ``bench/sam_embedding_reuse.py``. The
image side is 64 pixels (8x8 patches of 8) and every width is 16-32, so a forward pass
takes milliseconds on a CPU. The keyword arguments make a larger (still random) model for benchmarks.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["build_tiny_segment"]


def build_tiny_segment(
    directory: str | Path,
    *,
    image_size: int = 64,
    hidden_size: int = 32,
    layers: int = 2,
    channels: int = 16,
) -> Path:
    """Save a random tiny ``SamModel`` + ``SamProcessor`` (PIL image processor) to ``directory``.

    ``channels`` is the image-embedding width (= prompt encoder and mask decoder width; SAM: 256).
    """
    import torch
    from transformers import (
        SamConfig,
        SamImageProcessorPil,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    patch = 8
    grid = image_size // patch
    config = SamConfig(
        vision_config=SamVisionConfig(
            hidden_size=hidden_size,
            output_channels=channels,
            num_hidden_layers=layers,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch,
            window_size=max(grid // 2, 1),
            global_attn_indexes=[layers - 1],
            num_pos_feats=channels // 2,
            mlp_dim=2 * hidden_size,
        ),
        prompt_encoder_config=SamPromptEncoderConfig(
            hidden_size=channels, image_size=image_size, patch_size=patch, mask_input_channels=4
        ),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=channels,
            mlp_dim=2 * channels,
            num_hidden_layers=1,
            num_attention_heads=2,
            iou_head_hidden_dim=channels,
        ),
    )
    torch.manual_seed(0)
    model = SamModel(config).eval()
    image_processor = SamImageProcessorPil(
        size={"longest_edge": image_size},
        pad_size={"height": image_size, "width": image_size},
        mask_size={"longest_edge": image_size // 4},
        mask_pad_size={"height": image_size // 4, "width": image_size // 4},
    )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    SamProcessor(image_processor=image_processor).save_pretrained(directory)
    return directory
