"""A tiny, randomly initialised GLIGEN pipeline (generation or box-inpainting) saved like a hub checkpoint.

GLIGEN needs a UNet with ``attention_type="gated"``: its position net embeds each phrase's
CLIP pooled text feature (so the text model's hidden size must equal the UNet's
``cross_attention_dim``, as in the shared tiny SD parts) together with the Fourier-encoded box.
The inpainting checkpoint differs only in its UNet's input: 4 latent channels + 4 masked-image
latent channels + 1 mask channel.
"""

from __future__ import annotations

from pathlib import Path

from tests.experts.tiny_diffusion import build_tiny_sd_components

__all__ = ["TINY_SIDE", "build_tiny_gligen"]

TINY_SIDE = 32
"""The tiny VAE's ``sample_size``: the square the tiny inpainting pipeline works on."""


def build_tiny_gligen(directory: str | Path, *, inpainting: bool = False) -> Path:
    """Save a tiny ``StableDiffusionGLIGENPipeline`` into ``directory`` and return it.

    ``inpainting=True`` builds the box-inpainting variant (UNet with 9 input channels).
    New images can have any multiple of 8 as width and height; inpainting works at ``TINY_SIDE``.
    """
    from diffusers import StableDiffusionGLIGENPipeline

    unet_kwargs = {"attention_type": "gated", "in_channels": 9 if inpainting else 4}
    components = build_tiny_sd_components(unet_kwargs)
    assert components["vae"].config.sample_size == TINY_SIDE
    StableDiffusionGLIGENPipeline(**components).save_pretrained(directory)
    return Path(directory)
