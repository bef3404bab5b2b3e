"""GLIGEN: generate an image with given phrases placed in given boxes, or paint them into an image's boxes.

Runs diffusers' ``StableDiffusionGLIGENPipeline`` (in diffusers' deprecated pipelines). Boxes
arrive in pixels and are normalised to the [0, 1] ``xyxy`` the pipeline wants. Box-region
inpainting uses the separate inpainting checkpoint (loaded with the other at start-up), which works on a
square of the VAE's ``sample_size``: the image is stretched to it, the normalised boxes stay
valid, and the result is stretched back to the image's size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from experts._diffusion import (
    DiffusionSettings,
    check_multiple_of_8,
    from_pil,
    generator_for,
    guidance_field,
    load_pipeline,
    negative_prompt_field,
    nsfw_blocked_field,
    pick_seed,
    seed_field,
    steps_field,
    steps_setting,
)
from experts._geometry import BOX_DESCRIPTION, Box, check_box_inside, size_text
from experts.base import Expert, ExpertError, ImageData, ImageRef, NewBoxes, NewImage
from loading import ModelNotAvailable, pick_device, pick_dtype

MAX_PHRASES = 30  # the pipeline silently keeps only the first 30 objects; we refuse more instead


class GligenInput(BaseModel):
    prompt: str = Field(description="what the whole image shows, e.g. 'a living room, photo'")
    phrases: list[str] = Field(
        description="what to put in each box, one short phrase per box, e.g. ['a red sofa', 'a cat']"
    )
    boxes: list[Box] = Field(
        description="one box per phrase, in the same order, in pixels of the output image: " + BOX_DESCRIPTION
    )
    image: ImageRef | None = Field(
        default=None,
        description="an image to paint the phrases into: only the boxes change and the output has the "
        "image's size; leave out to generate a new image",
    )
    width: int | None = Field(
        default=None,
        description="width of a new image in pixels (a multiple of 8, at most $max_side; default "
        "$default_size); leave out when an image is given",
    )
    height: int | None = Field(
        default=None,
        description="height of a new image in pixels (a multiple of 8, at most $max_side; default "
        "$default_size); leave out when an image is given",
    )
    negative_prompt: str | None = negative_prompt_field()
    steps: int | None = steps_field(maximum=150)
    guidance_scale: float | None = guidance_field()
    scheduled_sampling_beta: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="fraction of the steps that follow the boxes: higher obeys the boxes more "
        "strictly, lower looks more natural",
    )
    seed: int | None = seed_field()


class GligenOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="the generated or inpainted image")
    boxes: NewBoxes = Field(description="the phrases placed: {box: [x0, y0, x1, y1] pixels, label: phrase}")
    seed: int = Field(description="the seed used; pass it again to reproduce the image")
    nsfw_blocked: bool = nsfw_blocked_field()


class GligenSettings(DiffusionSettings):
    """Options for the ``options:`` of the gligen entry in the config (unknown keys are rejected)."""

    model: str = Field(
        default="masterful/gligen-1-4-generation-text-box",
        description="GLIGEN text-box generation pipeline: hub id or local directory",
    )
    inpaint_model: str | None = Field(
        default="masterful/gligen-1-4-inpainting-text-box",
        description="GLIGEN text-box inpainting pipeline: hub id or local directory; null turns box-region "
        "inpainting (calls with an image) off",
    )
    default_size: int = Field(default=512, ge=8, le=4096, description="width/height of a new image")
    max_side: int = Field(default=1024, ge=8, le=4096, description="largest width/height accepted")
    num_inference_steps: int = steps_setting(50, maximum=150)
    keep_outside_boxes: bool = Field(
        default=True,
        description="inpainting: copy the input's pixels outside the boxes into the output unchanged",
    )


def normalise_boxes(boxes: list[tuple[int, ...]], width: int, height: int) -> list[list[float]]:
    """Pixel ``xyxy`` boxes → the [0, 1] ``xyxy`` boxes the pipeline wants."""
    return [[x0 / width, y0 / height, x1 / width, y1 / height] for x0, y0, x1, y1 in boxes]


class Gligen(Expert[GligenInput, GligenOutput]):
    name = "gligen"
    extra = "diffusion"
    description = (
        "Grounded image generation (GLIGEN): draw a new image from a prompt with each phrase placed "
        "in its box (boxes in pixels of the output, one per phrase), or, given an image, paint the "
        "phrases into those boxes of it and leave the rest alone (box-region inpainting; the output "
        "keeps the image's size). Returns a new image, a boxes artifact with the phrases placed, and "
        "the seed to reproduce it. Use it to create or edit images with objects at chosen places."
    )
    Input = GligenInput
    Output = GligenOutput
    Settings = GligenSettings
    thread_safe = False  # the pipeline switches the UNet's gated layers on and off during a call

    settings: GligenSettings

    def setup(self) -> None:
        s = self.settings
        self._device = pick_device(s.device)
        self._dtype = pick_dtype(s.dtype, self._device)
        self._pipe = self._load(s.model, inpainting=False)
        # Loaded now too, so a missing inpainting checkpoint fails the deployment, not a task.
        self._inpaint_pipe = None if s.inpaint_model is None else self._load(s.inpaint_model, inpainting=True)

    def _load(self, model: str, *, inpainting: bool) -> Any:
        from diffusers import StableDiffusionGLIGENPipeline

        pipe = load_pipeline(
            StableDiffusionGLIGENPipeline,
            model,
            expert=self.name,
            device=self._device,
            dtype=self._dtype,
            safety_checker=self.settings.safety_checker,
            option="inpaint_model" if inpainting else "model",
        )
        unet = pipe.unet.config
        if unet.attention_type != "gated":
            raise ModelNotAvailable(
                f"expert '{self.name}': model '{model}' is not a GLIGEN text-box checkpoint (its UNet has "
                f"attention_type {unet.attention_type!r}, GLIGEN needs 'gated')"
            )
        wanted = 9 if inpainting else 4  # inpainting: latents + masked-image latents + mask
        if unet.in_channels != wanted:
            role = "inpaint_model" if inpainting else "model"
            raise ModelNotAvailable(
                f"expert '{self.name}': {role} '{model}' has a UNet with {unet.in_channels} input channels; "
                f"a GLIGEN {'inpainting' if inpainting else 'generation'} checkpoint has {wanted}"
            )
        return pipe

    def run(self, inputs: GligenInput) -> GligenOutput:
        phrases = [phrase.strip() for phrase in inputs.phrases]
        if not inputs.prompt.strip():
            raise ExpertError("prompt is empty; describe the whole image, e.g. 'a park in autumn, photo'")
        if not phrases or not inputs.boxes:
            raise ExpertError("give at least one phrase and one box: phrases[i] is drawn inside boxes[i]")
        if len(phrases) != len(inputs.boxes):
            raise ExpertError(
                f"got {len(phrases)} phrases but {len(inputs.boxes)} boxes; give exactly one box per phrase"
            )
        if len(phrases) > MAX_PHRASES:
            raise ExpertError(f"got {len(phrases)} phrases; GLIGEN places at most {MAX_PHRASES} per image")
        if any(not phrase for phrase in phrases):
            raise ExpertError("phrases must not be empty; say what to draw in each box, e.g. 'a dog'")
        if inputs.image is not None:
            return self._inpaint(inputs, inputs.image, phrases)
        width, height = self._side("width", inputs.width), self._side("height", inputs.height)
        boxes = [check_box_inside(b, width, height, name=f"boxes[{i}]") for i, b in enumerate(inputs.boxes)]
        seed = pick_seed(inputs.seed)
        array, blocked = self._generate(
            self._pipe, inputs, phrases, normalise_boxes(boxes, width, height), width, height, None, seed
        )
        return self._output(array, phrases, boxes, seed, blocked)

    def _side(self, key: str, value: int | None) -> int:
        """A new image's width or height: the default, or a checked multiple of 8 up to ``max_side``."""
        if value is None:
            return self.settings.default_size
        if not 0 < value <= self.settings.max_side:
            raise ExpertError(
                f"{key} {value} is out of range; give a multiple of 8 between 8 and "
                f"{self.settings.max_side} pixels"
            )
        return check_multiple_of_8(key, value)

    def _inpaint(self, inputs: GligenInput, image: ImageData, phrases: list[str]) -> GligenOutput:
        width, height = image.width, image.height
        given = (
            width if inputs.width is None else inputs.width,
            height if inputs.height is None else inputs.height,
        )
        if given != (width, height):
            raise ExpertError(
                f"width/height {size_text(*given)} differ from the {size_text(width, height)} image; "
                "an inpainted image keeps the input's size, so leave width and height out"
            )
        boxes = [check_box_inside(b, width, height, name=f"boxes[{i}]") for i, b in enumerate(inputs.boxes)]
        pipe = self._inpaint_pipe
        if pipe is None:
            raise ExpertError(
                "this deployment does not paint into images (options.inpaint_model is not set); "
                "leave 'image' out to generate a new image"
            )
        side = int(pipe.vae.config.sample_size)  # the pipeline's inpainting works on this square
        work = Image.fromarray(image.array).resize((side, side), Image.Resampling.LANCZOS)
        seed = pick_seed(inputs.seed)
        array, blocked = self._generate(
            pipe, inputs, phrases, normalise_boxes(boxes, width, height), side, side, work, seed
        )
        if (side, side) != (width, height):
            array = from_pil(Image.fromarray(array), (width, height))
        if self.settings.keep_outside_boxes and not blocked:
            result = image.array.copy()
            for x0, y0, x1, y1 in boxes:
                result[y0:y1, x0:x1] = array[y0:y1, x0:x1]
            array = result
        return self._output(array, phrases, boxes, seed, blocked)

    def _generate(
        self,
        pipe: Any,
        inputs: GligenInput,
        phrases: list[str],
        boxes: list[list[float]],
        width: int,
        height: int,
        inpaint_image: Image.Image | None,
        seed: int,
    ) -> tuple[np.ndarray, bool]:
        import torch

        s = self.settings
        cuda = [torch.device(self._device).index or 0] if self._device.startswith("cuda") else []
        # The latents use the generator, but inpainting also draws noise from the global RNG
        # (VAE sampling, re-noising the image each step): seed both, and restore the global RNG after.
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            result = pipe(
                prompt=inputs.prompt,
                negative_prompt=inputs.negative_prompt,
                width=width,
                height=height,
                num_inference_steps=inputs.steps or s.num_inference_steps,
                guidance_scale=s.guidance_scale if inputs.guidance_scale is None else inputs.guidance_scale,
                gligen_scheduled_sampling_beta=inputs.scheduled_sampling_beta,
                gligen_phrases=phrases,
                gligen_boxes=boxes,
                gligen_inpaint_image=inpaint_image,
                generator=generator_for(seed),
                output_type="np",
            )
        array = (np.clip(result.images[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)
        flags = result.nsfw_content_detected
        return np.ascontiguousarray(array), bool(flags and flags[0])

    @staticmethod
    def _output(
        array: np.ndarray, phrases: list[str], boxes: list[tuple[int, ...]], seed: int, blocked: bool
    ) -> GligenOutput:
        items = [{"box": list(box), "label": phrase} for phrase, box in zip(phrases, boxes, strict=True)]
        return GligenOutput(
            image=NewImage(array), boxes=NewBoxes(items=items), seed=seed, nsfw_blocked=blocked
        )
