"""Inpaint: repaint the masked region of an image from a text prompt (Stable Diffusion inpainting)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from experts._diffusion import (
    DiffusionSettings,
    SchedulerName,
    from_pil,
    generator_for,
    guidance_field,
    load_pipeline,
    negative_prompt_field,
    nsfw_blocked_field,
    pick_seed,
    seed_field,
    steps_field,
    to_pil,
    working_size,
)
from experts._geometry import size_text
from experts.base import Expert, ExpertError, ImageRef, MaskRef, NewImage
from loading import pick_device, pick_dtype


class InpaintInput(BaseModel):
    image: ImageRef = Field(description="the image to edit (it is not changed; a new image is made)")
    mask: MaskRef = Field(
        description="the region to repaint (e.g. an object's mask from a segmentation expert); "
        "it must have the same size as the image. Pixels outside it stay exactly as they are"
    )
    prompt: str = Field(
        min_length=1,
        description="what the masked region should show afterwards. To remove an object describe the "
        "background that should replace it ('empty wooden table'); to replace it describe the new "
        "object ('a red vase')",
    )
    negative_prompt: str | None = negative_prompt_field()
    dilate: int = Field(
        default=8,
        ge=0,
        le=64,
        description="grow the mask by this many pixels first, so the object's edges and halo are "
        "repainted too; 0 repaints exactly the mask",
    )
    seed: int | None = seed_field()
    steps: int | None = steps_field()
    guidance_scale: float | None = guidance_field()


class InpaintOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(
        description="the edited image, same size as the input; only the masked region changed"
    )
    seed: int = Field(description="the seed used (pass it again to reproduce this result)")
    repainted_fraction: float = Field(description="fraction of the image repainted, after dilation (0..1)")
    nsfw_blocked: bool = nsfw_blocked_field()


class InpaintSettings(DiffusionSettings):
    """Options for the ``options:`` of the inpaint entry in the config."""

    model: str = Field(
        default="stable-diffusion-v1-5/stable-diffusion-inpainting",
        description="a diffusers StableDiffusionInpaintPipeline: hub id or local directory",
    )
    max_side: int = Field(
        default=768,
        ge=64,
        le=2048,
        description="work at most this many pixels on the longer side (the result is resized back)",
    )
    scheduler: SchedulerName = Field(default="model", description="'model' keeps the pipeline's scheduler")


class Inpaint(Expert[InpaintInput, InpaintOutput]):
    name = "inpaint"
    extra = "diffusion"
    description = (
        "Edit an image with text: repaint the region of a mask to show what the prompt says. Use it "
        "to remove an object (mask the object, prompt the background that should replace it) or to "
        "replace it (prompt the new object). Get the mask from a segmentation expert first. Returns "
        "'image', a new image of the same size where only the (slightly grown, see 'dilate') masked "
        "region changed, and the 'seed' used."
    )
    Input = InpaintInput
    Output = InpaintOutput
    Settings = InpaintSettings
    thread_safe = False  # a pipeline's scheduler keeps per-call state

    settings: InpaintSettings

    def setup(self) -> None:
        from diffusers import StableDiffusionInpaintPipeline

        s = self.settings
        device = pick_device(s.device)
        self._pipe: Any = load_pipeline(
            StableDiffusionInpaintPipeline,
            s.model,
            expert=self.name,
            device=device,
            dtype=pick_dtype(s.dtype, device),
            safety_checker=s.safety_checker,
            scheduler=s.scheduler,
        )

    def run(self, inputs: InpaintInput) -> InpaintOutput:
        image, mask = inputs.image, inputs.mask
        if (mask.width, mask.height) != (image.width, image.height):
            raise ExpertError(
                f"mask {mask.handle} is {size_text(mask.width, mask.height)} but image {image.handle} is "
                f"{size_text(image.width, image.height)}; use a mask made from this image"
            )
        region = mask.array.astype(bool)
        if not region.any():
            raise ExpertError(
                f"mask {mask.handle} is empty (no pixels set), so there is nothing to repaint; "
                "segment the object to change first and pass that mask"
            )
        if inputs.dilate:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * inputs.dilate + 1,) * 2)
            region = cv2.dilate(region.astype(np.uint8), kernel).astype(bool)

        size = working_size(image.width, image.height, self.settings.max_side)
        work_image = to_pil(image.array).resize(size, Image.Resampling.LANCZOS)
        # Any coverage of a working pixel marks it, so thin parts of the mask survive shrinking.
        work_mask = np.asarray(to_pil(region).resize(size, Image.Resampling.BILINEAR)) > 0
        seed = pick_seed(inputs.seed)
        result = self._pipe(
            prompt=inputs.prompt,
            negative_prompt=inputs.negative_prompt,
            image=work_image,
            mask_image=to_pil(work_mask),
            width=size[0],
            height=size[1],
            strength=1.0,
            num_inference_steps=inputs.steps or self.settings.num_inference_steps,
            guidance_scale=(
                self.settings.guidance_scale if inputs.guidance_scale is None else inputs.guidance_scale
            ),
            generator=generator_for(seed),
        )
        painted = from_pil(result.images[0], (image.width, image.height))
        out = np.where(region[:, :, None], painted, image.array)
        flagged = result.nsfw_content_detected
        return InpaintOutput(
            image=NewImage(out),
            seed=seed,
            repainted_fraction=round(float(region.mean()), 4),
            nsfw_blocked=bool(flagged and flagged[0]),
        )
