"""A tiny, randomly initialised GLIGEN pipeline (generation or box-inpainting) saved like a hub checkpoint.

GLIGEN needs a UNet with ``attention_type="gated"``: its position net embeds each phrase's
CLIP pooled text feature (so the text model's ``hidden_size`` must equal the UNet's
``cross_attention_dim``) together with the Fourier-encoded box. The inpainting checkpoint
differs only in its UNet's input: 4 latent channels + 4 masked-image latent channels + 1 mask.
Everything is built in-process (no hub): the CLIP tokenizer gets a byte-level vocabulary and
no merges, so every character is one token.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TINY_SIDE", "build_tiny_gligen"]

TINY_SIDE = 32
"""The VAE's ``sample_size``: the square working size of the tiny inpainting pipeline."""

_HIDDEN = 32  # CLIP text hidden size == UNet cross_attention_dim == GLIGEN positive_len
_MAX_TOKENS = 16


def _tokenizer():
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for char in sorted(ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    for char in sorted(ByteLevel.alphabet()):
        vocab[char + "</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=_MAX_TOKENS)


def build_tiny_gligen(directory: str | Path, *, inpainting: bool = False, seed: int = 0) -> Path:
    """Save a tiny ``StableDiffusionGLIGENPipeline`` into ``directory`` and return it.

    ``inpainting=True`` builds the box-inpainting variant (UNet with 9 input channels).
    Images are generated at any multiple of 8 pixels; inpainting works at ``TINY_SIDE``.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionGLIGENPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    vocab = tokenizer.get_vocab()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=_HIDDEN,
            intermediate_size=37,
            num_hidden_layers=1,
            num_attention_heads=4,
            max_position_embeddings=_MAX_TOKENS,
            projection_dim=_HIDDEN,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        )
    )
    unet = UNet2DConditionModel(
        sample_size=TINY_SIDE // 2,
        in_channels=9 if inpainting else 4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=_HIDDEN,
        attention_head_dim=4,
        attention_type="gated",
    )
    vae = AutoencoderKL(
        sample_size=TINY_SIDE,
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    pipeline = StableDiffusionGLIGENPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    target = Path(directory)
    pipeline.save_pretrained(target)
    return target
