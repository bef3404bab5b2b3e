"""Shared by the diffusion experts: pipeline loading, seeds, working sizes and PIL conversions.

Imports torch and diffusers lazily so importing an expert module stays cheap.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import Field

from experts._loading import DeviceSettings, load_model
from experts.base import ExpertError

__all__ = [
    "MAX_SEED",
    "DiffusionSettings",
    "SchedulerName",
    "check_multiple_of_8",
    "from_pil",
    "generator_for",
    "guidance_field",
    "load_pipeline",
    "negative_prompt_field",
    "nsfw_blocked_field",
    "pick_seed",
    "seed_field",
    "steps_field",
    "steps_setting",
    "to_pil",
    "working_size",
]

MAX_SEED = 2**32 - 1

SchedulerName = Literal["model", "ddim", "pndm", "euler", "euler_ancestral", "dpmsolver", "unipc"]
"""``model`` keeps the scheduler saved with the pipeline; the others swap in a diffusers scheduler."""

_SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
    "dpmsolver": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
}


def negative_prompt_field() -> Any:
    """The ``negative_prompt`` input every diffusion expert takes."""
    return Field(default=None, description="what the image should not show")


def seed_field() -> Any:
    """The ``seed`` input: the same seed repeats the same result."""
    return Field(
        default=None, ge=0, le=MAX_SEED, description="random seed; the same seed repeats the same result"
    )


def steps_field(maximum: int = 100) -> Any:
    """The ``steps`` input; its default is the expert's ``num_inference_steps`` setting."""
    return Field(
        default=None,
        ge=1,
        le=maximum,
        description="denoising steps (default $num_inference_steps; more is slower, finer)",
    )


def guidance_field() -> Any:
    """The ``guidance_scale`` input; its default is the expert's ``guidance_scale`` setting."""
    return Field(
        default=None,
        ge=0.0,
        le=30.0,
        description="how strongly to follow the prompt (default $guidance_scale)",
    )


def steps_setting(default: int, maximum: int = 200) -> Any:
    """The ``num_inference_steps`` setting: denoising steps when a call gives no ``steps``."""
    return Field(default=default, ge=1, le=maximum, description="denoising steps when a call gives none")


def nsfw_blocked_field() -> Any:
    """The ``nsfw_blocked`` output every diffusion expert reports."""
    return Field(description="true when the safety checker flagged the result and blacked it out")


class DiffusionSettings(DeviceSettings):
    """Settings every diffusion expert shares: where it runs, the NSFW checker, the denoising defaults."""

    safety_checker: bool = Field(
        default=True,
        description="run the model's NSFW safety checker when the model directory has one; "
        "a flagged image is blacked out",
    )
    num_inference_steps: int = steps_setting(30)
    guidance_scale: float = Field(
        default=7.5, ge=0.0, le=30.0, description="classifier-free guidance when a call gives none"
    )


def load_pipeline(
    pipeline_cls: type[Any],
    model: str,
    *,
    expert: str,
    device: str,
    dtype: Any,
    safety_checker: bool,
    scheduler: SchedulerName = "model",
    option: str = "model",
) -> Any:
    """``pipeline_cls.from_pretrained(model)`` on ``device`` with a clear error when it is missing.

    ``option`` names the setting that holds ``model`` (``model``, ``inpaint_model``), for that error.
    Without ``safety_checker`` the pipeline is loaded without its NSFW checker and feature extractor.
    """
    kwargs: dict[str, Any] = {"dtype": dtype}
    if not safety_checker:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe = load_model(pipeline_cls.from_pretrained, model, expert=expert, option=option, **kwargs)
    if scheduler != "model":
        import diffusers

        pipe.scheduler = getattr(diffusers, _SCHEDULERS[scheduler]).from_config(pipe.scheduler.config)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pick_seed(seed: int | None) -> int:
    """``seed``, or a fresh random one (reported back so the result can be reproduced)."""
    return secrets.randbelow(MAX_SEED + 1) if seed is None else int(seed)


def generator_for(seed: int) -> Any:
    """A CPU ``torch.Generator``: the same seed gives the same noise on every device."""
    import torch

    return torch.Generator("cpu").manual_seed(seed)


def check_multiple_of_8(name: str, value: int) -> int:
    """``value`` if it is a multiple of 8 (the VAE's stride), else an ExpertError with the neighbours."""
    if value % 8:
        low = max(8, value // 8 * 8)
        raise ExpertError(f"{name} {value} is not a multiple of 8; use {low} or {low + 8}")
    return value


def working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size to generate at: scaled down to fit ``max_side``, each side rounded to a multiple of 8."""
    scale = min(1.0, max_side / max(width, height))
    return (
        max(8, round(width * scale / 8) * 8),
        max(8, round(height * scale / 8) * 8),
    )


def to_pil(array: np.ndarray) -> Image.Image:
    """HxWx3 uint8 RGB (or HxW uint8/bool) → PIL image."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return Image.fromarray(np.ascontiguousarray(array))


def from_pil(image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """PIL image → HxWx3 uint8 RGB, resized to ``size`` (width, height) first when given."""
    image = image.convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8).copy()
