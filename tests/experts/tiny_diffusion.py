"""Tiny, randomly initialised Stable Diffusion parts for tests and benchmarks (no hub, no weights).

Shaped like diffusers' own pipeline tests: a UNet with ``block_out_channels=(4, 8)``, a 2-block
VAE, a 2-layer CLIP text encoder with ``hidden_size=32`` and a byte-level CLIP tokenizer built
in-process. Everything is seeded, so two builds give the same weights. Pipelines run in well
under a second at 32-64 px with 2 steps on a CPU.

Public and stable (other experts' tests reuse it):

- :func:`build_tiny_sd_components` — the parts as a dict that any SD-1.x style pipeline takes
  (``StableDiffusionPipeline(**components)``); pass ``unet_kwargs`` to change the UNet
  (e.g. ``{"attention_type": "gated"}`` for GLIGEN, ``{"in_channels": 9}`` for inpainting).
- ``build_tiny_sd`` / ``build_tiny_inpaint`` / ``build_tiny_controlnet`` — save a text-to-image
  pipeline, an inpainting pipeline, a ControlNet matching the tiny UNet, to a directory.
- ``build_tiny_depth_estimator`` / ``build_tiny_segmenter`` — a tiny DPT depth model and a tiny
  UperNet (ConvNeXt) semantic segmenter with their image processors, for computed conditions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "build_tiny_controlnet",
    "build_tiny_depth_estimator",
    "build_tiny_inpaint",
    "build_tiny_sd",
    "build_tiny_sd_components",
    "build_tiny_segmenter",
    "build_tiny_tokenizer",
]

CROSS_ATTENTION_DIM = 32
"""Hidden size of the tiny text encoder, and so the UNet's ``cross_attention_dim``."""


def build_tiny_tokenizer() -> Any:
    """A byte-level CLIP tokenizer (every byte, with and without ``</w>``, no merges), max length 77."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in sorted(ByteLevel.alphabet()):
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def build_tiny_sd_components(unet_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parts of a tiny SD-1.x pipeline, seeded: pass them as ``SomePipeline(**components)``.

    Keys: ``unet`` (``UNet2DConditionModel``, sample size 32, ``cross_attention_dim=32``;
    ``unet_kwargs`` override its config), ``vae`` (``AutoencoderKL``, scale factor 2),
    ``text_encoder`` (``CLIPTextModel``, hidden size 32), ``tokenizer`` (``CLIPTokenizer``),
    ``scheduler`` (``DDIMScheduler`` with SD-1.x betas), ``safety_checker`` and
    ``feature_extractor`` (both ``None``) and ``requires_safety_checker`` (``False``).
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = build_tiny_tokenizer()
    unet_config: dict[str, Any] = {
        "block_out_channels": (4, 8),
        "layers_per_block": 1,
        "sample_size": 32,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "cross_attention_dim": CROSS_ATTENTION_DIM,
        "attention_head_dim": 2,
        "norm_num_groups": 1,
    }
    unet_config.update(unet_kwargs or {})
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**unet_config)
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(4, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=2,
        sample_size=32,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=CROSS_ATTENTION_DIM,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": scheduler,
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }


def build_tiny_sd(directory: str | Path) -> Path:
    """Save a tiny ``StableDiffusionPipeline`` (text-to-image) to ``directory``; returns it."""
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline(**build_tiny_sd_components()).save_pretrained(directory)
    return Path(directory)


def build_tiny_inpaint(directory: str | Path) -> Path:
    """Save a tiny ``StableDiffusionInpaintPipeline`` (UNet with 9 input channels); returns it."""
    from diffusers import StableDiffusionInpaintPipeline

    components = build_tiny_sd_components({"in_channels": 9})
    StableDiffusionInpaintPipeline(**components).save_pretrained(directory)
    return Path(directory)


def build_tiny_controlnet(directory: str | Path) -> Path:
    """Save a tiny ``ControlNetModel`` that fits the UNet of :func:`build_tiny_sd`; returns it.

    Its condition embedding downsamples by 2, like the tiny VAE (real ones: 8, like SD's VAE).
    """
    from diffusers import ControlNetModel

    unet = build_tiny_sd_components()["unet"]
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
    controlnet.save_pretrained(directory)
    return Path(directory)


def build_tiny_depth_estimator(directory: str | Path) -> Path:
    """Save a tiny DPT depth model (ViT, 32 px input) and its image processor; returns it."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessorPil

    config = DPTConfig(
        image_size=32,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=4,
        backbone_out_indices=[0, 1, 2, 3],
        num_attention_heads=4,
        intermediate_size=37,
        neck_hidden_sizes=[8, 8, 16, 16],
        reassemble_factors=[4, 2, 1, 0.5],
        fusion_hidden_size=16,
        head_in_index=-1,
        is_hybrid=False,
    )
    torch.manual_seed(0)
    DPTForDepthEstimation(config).save_pretrained(directory)
    processor = DPTImageProcessorPil(size={"height": 32, "width": 32}, keep_aspect_ratio=False)
    processor.save_pretrained(directory)
    return Path(directory)


def build_tiny_segmenter(directory: str | Path, num_labels: int = 150) -> Path:
    """Save a tiny UperNet (ConvNeXt) semantic segmenter with ``num_labels`` classes; returns it."""
    import torch
    from transformers import (
        ConvNextConfig,
        SegformerImageProcessorPil,
        UperNetConfig,
        UperNetForSemanticSegmentation,
    )

    backbone = ConvNextConfig(
        hidden_sizes=[8, 8, 16, 16],
        depths=[1, 1, 1, 1],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = UperNetConfig(
        backbone_config=backbone,
        hidden_size=16,
        pool_scales=[1, 2],
        use_auxiliary_head=False,
        num_labels=num_labels,
    )
    torch.manual_seed(0)
    UperNetForSemanticSegmentation(config).save_pretrained(directory)
    processor = SegformerImageProcessorPil(size={"height": 64, "width": 64})
    processor.save_pretrained(directory)
    return Path(directory)
