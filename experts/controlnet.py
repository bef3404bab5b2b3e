"""ControlNet: generate an image from a prompt that follows a condition map (edges, depth, pose, lines …).

The condition kinds, where a call's map comes from and the maps computed here are in ``_conditions.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts._conditions import ADE20K_PALETTE, ConditionKind, ConditionMap, SegEstimator, pick_condition
from experts._diffusion import (
    DiffusionSettings,
    SchedulerName,
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
    to_pil,
    working_size,
)
from experts._loading import load_model
from experts.base import Expert, ExpertError, ImageRef, NewImage
from experts.canny import canny_edges
from loading import pick_device, pick_dtype

__all__ = ["ADE20K_PALETTE", "ControlNet", "ControlNetInput", "ControlNetOutput", "ControlNetSettings"]


class ControlNetInput(BaseModel):
    prompt: str = Field(min_length=1, description="what the new image should show")
    condition: ConditionKind | None = Field(
        default=None,
        description="what the new image follows: 'canny' (edges), 'depth' (3-D layout), 'seg' (regions "
        "in ADE20K colours), 'normal' (surface normals), 'pose' (OpenPose skeletons), 'hed' (soft edges), "
        "'mlsd' (straight lines), 'scribble' (rough strokes); leave it out when condition_image is an "
        "annotator's map (depth-1, pose-1 …): its kind says",
    )
    condition_image: ConditionMap | None = Field(
        default=None,
        description="a ready condition map: an annotator's map (depth-N, normal-N, pose-N, hed-N, mlsd-N, "
        "scribble-N), or an image holding a map of the kind 'condition' names (e.g. from canny)",
    )
    image: ImageRef | None = Field(
        default=None,
        description="a photo to compute a canny or seg map from (needs compute_condition: true); other maps "
        "come from their annotator experts",
    )
    compute_condition: bool = Field(
        default=False,
        description="true: compute the canny or seg map from 'image' (it is returned as 'condition')",
    )
    low_threshold: float = Field(
        default=100, ge=0, le=255, description="canny only, when computing: weaker gradients are no edge"
    )
    high_threshold: float = Field(
        default=200, ge=0, le=255, description="canny only, when computing: stronger gradients are edges"
    )
    negative_prompt: str | None = negative_prompt_field()
    seed: int | None = seed_field()
    steps: int | None = steps_field()
    guidance_scale: float | None = guidance_field()
    condition_scale: float = Field(
        default=1.0, ge=0.0, le=2.0, description="how strongly to follow the condition map (0 ignores it)"
    )
    width: int | None = Field(
        default=None,
        ge=64,
        le=2048,
        description="output width, a multiple of 8 (default: the condition map's, scaled to fit the limit)",
    )
    height: int | None = Field(
        default=None,
        ge=64,
        le=2048,
        description="output height, a multiple of 8 (default: the condition map's, scaled to fit the limit)",
    )


class ControlNetOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage = Field(description="the generated image")
    condition: NewImage | None = Field(
        description="the condition map computed from 'image' (None when given)"
    )
    condition_kind: ConditionKind = Field(description="the condition the image follows")
    seed: int = Field(description="the seed used (pass it again to reproduce this image)")
    nsfw_blocked: bool = nsfw_blocked_field()


class ControlNetSettings(DiffusionSettings):
    """Options for the ``options:`` of the controlnet entry in the config."""

    model: str = Field(
        default="stable-diffusion-v1-5/stable-diffusion-v1-5",
        description="the base Stable Diffusion 1.x pipeline: hub id or local directory",
    )
    controlnets: dict[ConditionKind, str] = Field(
        default={
            "canny": "lllyasviel/sd-controlnet-canny",
            "depth": "lllyasviel/sd-controlnet-depth",
            "seg": "lllyasviel/sd-controlnet-seg",
            "normal": "lllyasviel/sd-controlnet-normal",
            "pose": "lllyasviel/sd-controlnet-openpose",
            "hed": "lllyasviel/sd-controlnet-hed",
            "mlsd": "lllyasviel/sd-controlnet-mlsd",
            "scribble": "lllyasviel/sd-controlnet-scribble",
        },
        description="condition kind → ControlNetModel (hub id or directory); all load at replica start, so "
        "list only the conditions this deployment serves",
    )
    seg_model: str | None = Field(
        default="openmmlab/upernet-convnext-small",
        description="ADE20K semantic segmenter for computed seg maps (AutoModelForSemanticSegmentation); "
        "loaded when a seg ControlNet is configured; null: only ready seg maps are accepted",
    )
    num_inference_steps: int = steps_setting(20)
    max_side: int = Field(
        default=768, ge=64, le=2048, description="default output size fits this longer side"
    )
    scheduler: SchedulerName = Field(default="unipc", description="'model' keeps the pipeline's scheduler")


class ControlNet(Expert[ControlNetInput, ControlNetOutput]):
    name = "controlnet"
    extra = "diffusion"
    description = (
        "Generate a new image from a text prompt that keeps the structure of another image, with "
        "Stable Diffusion + ControlNet. Pass a condition map as 'condition_image': the map of an "
        "annotator expert (depth, normal, pose, hed, mlsd, scribble: its kind picks the ControlNet), or "
        "an image holding a map with 'condition' naming its kind. For 'canny' and 'seg' it can compute "
        "the map from a photo: 'image' with compute_condition: true (returned as 'condition'). Returns "
        "the generated 'image' and the 'seed'. Use it to restyle a scene or redraw it as something else."
    )
    Input = ControlNetInput
    Output = ControlNetOutput
    Settings = ControlNetSettings
    thread_safe = False  # the pipelines share one scheduler, which keeps per-call state

    settings: ControlNetSettings

    def setup(self) -> None:
        from diffusers import StableDiffusionPipeline

        s = self.settings
        self._device = pick_device(s.device)
        self._dtype = pick_dtype(s.dtype, self._device)
        self._base: Any = load_pipeline(
            StableDiffusionPipeline,
            s.model,
            expert=self.name,
            device=self._device,
            dtype=self._dtype,
            safety_checker=s.safety_checker,
            scheduler=s.scheduler,
        )
        # Every model the settings name loads now, so a missing one fails the deployment, not a task.
        self._pipelines = {kind: self._load_pipeline(kind, model) for kind, model in s.controlnets.items()}
        self._seg: SegEstimator | None = None
        if "seg" in s.controlnets and s.seg_model is not None:
            self._seg = SegEstimator(s.seg_model, expert=self.name, device=self._device, dtype=self._dtype)

    def run(self, inputs: ControlNetInput) -> ControlNetOutput:
        kind, given = pick_condition(
            inputs.condition, inputs.condition_image, inputs.image, inputs.compute_condition
        )
        if kind not in self.settings.controlnets:
            configured = ", ".join(sorted(self.settings.controlnets)) or "none"
            raise ExpertError(
                f"no ControlNet is configured for condition '{kind}' (configured: {configured}); use one "
                f"of those, or add options.controlnets.{kind} to this expert's config"
            )
        condition = given.array if given is not None else self._compute(kind, inputs)
        width, height = self._output_size(inputs, condition)
        seed = pick_seed(inputs.seed)
        result = self._pipelines[kind](
            prompt=inputs.prompt,
            negative_prompt=inputs.negative_prompt,
            image=to_pil(condition),
            width=width,
            height=height,
            num_inference_steps=inputs.steps or self.settings.num_inference_steps,
            guidance_scale=(
                self.settings.guidance_scale if inputs.guidance_scale is None else inputs.guidance_scale
            ),
            controlnet_conditioning_scale=inputs.condition_scale,
            generator=generator_for(seed),
        )
        flagged = result.nsfw_content_detected
        return ControlNetOutput(
            image=NewImage(from_pil(result.images[0], (width, height))),
            condition=None if given is not None else NewImage(condition),
            condition_kind=kind,
            seed=seed,
            nsfw_blocked=bool(flagged and flagged[0]),
        )

    def _compute(self, kind: str, inputs: ControlNetInput) -> np.ndarray:
        """The canny or seg map of ``inputs.image`` (the only maps computed here)."""
        assert inputs.image is not None  # pick_condition returns no map only when there is a source
        if kind == "canny":
            return canny_edges(inputs.image.array, inputs.low_threshold, inputs.high_threshold)
        if self._seg is None:
            raise ExpertError(
                "this deployment cannot compute seg maps (options.seg_model is not set); pass a ready seg "
                "map as condition_image with condition: 'seg' instead"
            )
        return self._seg(inputs.image.array)

    # --- loading ------------------------------------------------------------------------

    def _load_pipeline(self, kind: str, model_id: str) -> Any:
        """The ControlNet pipeline for ``kind``: the shared base parts plus its ControlNet."""
        from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

        controlnet = load_model(
            ControlNetModel.from_pretrained,
            model_id,
            expert=self.name,
            option=f"controlnets.{kind}",
            dtype=self._dtype,
        ).to(self._device)
        pipe: Any = StableDiffusionControlNetPipeline(
            **self._base.components,
            controlnet=controlnet,
            requires_safety_checker=bool(self._base.config.requires_safety_checker),
        )
        pipe.set_progress_bar_config(disable=True)
        return pipe

    # --- output size --------------------------------------------------------------------

    def _output_size(self, inputs: ControlNetInput, condition: np.ndarray) -> tuple[int, int]:
        """(width, height): as asked, the missing side from the map's aspect, or the map's size fitted."""
        map_height, map_width = condition.shape[:2]
        width, height = inputs.width, inputs.height
        if width is not None:
            check_multiple_of_8("width", width)
        if height is not None:
            check_multiple_of_8("height", height)
        if width is not None and height is None:
            height = max(8, round(map_height * width / map_width / 8) * 8)
        elif height is not None and width is None:
            width = max(8, round(map_width * height / map_height / 8) * 8)
        if width is not None and height is not None:
            return width, height
        return working_size(map_width, map_height, self.settings.max_side)
