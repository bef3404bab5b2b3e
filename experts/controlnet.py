"""ControlNet: generate an image from a prompt that follows the edges, depth or layout of a condition map."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

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

ConditionKind = Literal["canny", "depth", "seg"]

# fmt: off
ADE20K_PALETTE = np.array([  # the ADE20K colours the seg ControlNet was trained on, one per class
    [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3], [120, 120, 80],
    [140, 140, 140], [204, 5, 255], [230, 230, 230], [4, 250, 7], [224, 5, 255], [235, 255, 7],
    [150, 5, 61], [120, 120, 70], [8, 255, 51], [255, 6, 82], [143, 255, 140], [204, 255, 4],
    [255, 51, 7], [204, 70, 3], [0, 102, 200], [61, 230, 250], [255, 6, 51], [11, 102, 255],
    [255, 7, 71], [255, 9, 224], [9, 7, 230], [220, 220, 220], [255, 9, 92], [112, 9, 255],
    [8, 255, 214], [7, 255, 224], [255, 184, 6], [10, 255, 71], [255, 41, 10], [7, 255, 255],
    [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7], [255, 122, 8], [0, 255, 20],
    [255, 8, 41], [255, 5, 153], [6, 51, 255], [235, 12, 255], [160, 150, 20], [0, 163, 255],
    [140, 140, 140], [250, 10, 15], [20, 255, 0], [31, 255, 0], [255, 31, 0], [255, 224, 0],
    [153, 255, 0], [0, 0, 255], [255, 71, 0], [0, 235, 255], [0, 173, 255], [31, 0, 255],
    [11, 200, 200], [255, 82, 0], [0, 255, 245], [0, 61, 255], [0, 255, 112], [0, 255, 133],
    [255, 0, 0], [255, 163, 0], [255, 102, 0], [194, 255, 0], [0, 143, 255], [51, 255, 0],
    [0, 82, 255], [0, 255, 41], [0, 255, 173], [10, 0, 255], [173, 255, 0], [0, 255, 153],
    [255, 92, 0], [255, 0, 255], [255, 0, 245], [255, 0, 102], [255, 173, 0], [255, 0, 20],
    [255, 184, 184], [0, 31, 255], [0, 255, 61], [0, 71, 255], [255, 0, 204], [0, 255, 194],
    [0, 255, 82], [0, 10, 255], [0, 112, 255], [51, 0, 255], [0, 194, 255], [0, 122, 255],
    [0, 255, 163], [255, 153, 0], [0, 255, 10], [255, 112, 0], [143, 255, 0], [82, 0, 255],
    [163, 255, 0], [255, 235, 0], [8, 184, 170], [133, 0, 255], [0, 255, 92], [184, 0, 255],
    [255, 0, 31], [0, 184, 255], [0, 214, 255], [255, 0, 112], [92, 255, 0], [0, 224, 255],
    [112, 224, 255], [70, 184, 160], [163, 0, 255], [153, 0, 255], [71, 255, 0], [255, 0, 163],
    [255, 204, 0], [255, 0, 143], [0, 255, 235], [133, 255, 0], [255, 0, 235], [245, 0, 255],
    [255, 0, 122], [255, 245, 0], [10, 190, 212], [214, 255, 0], [0, 204, 255], [20, 0, 255],
    [255, 255, 0], [0, 153, 255], [0, 41, 255], [0, 255, 204], [41, 0, 255], [41, 255, 0],
    [173, 0, 255], [0, 245, 255], [71, 0, 255], [122, 0, 255], [0, 255, 184], [0, 92, 255],
    [184, 255, 0], [0, 133, 255], [255, 214, 0], [25, 194, 194], [102, 255, 0], [92, 0, 255],
], dtype=np.uint8)
# fmt: on


class ControlNetInput(BaseModel):
    prompt: str = Field(min_length=1, description="what the new image should show")
    condition: ConditionKind = Field(
        description="what the new image follows: 'canny' (edges/outlines), 'depth' (3-D layout, near is "
        "bright), 'seg' (regions coloured with the ADE20K palette)"
    )
    condition_image: ImageRef | None = Field(
        default=None,
        description="an existing condition map of that kind (e.g. from the canny expert); give this or "
        "'image' with compute_condition",
    )
    image: ImageRef | None = Field(
        default=None, description="a photo to compute the condition map from (needs compute_condition: true)"
    )
    compute_condition: bool = Field(
        default=False,
        description="true: compute the condition map from 'image' (it is returned as 'condition')",
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
        },
        description="condition kind → ControlNetModel (hub id or directory); all load at replica start",
    )
    depth_model: str | None = Field(
        default="Intel/dpt-hybrid-midas",
        description="depth estimator for computed depth maps (transformers AutoModelForDepthEstimation); "
        "loaded when a depth ControlNet is configured; null: only ready depth maps are accepted",
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
        "Stable Diffusion + ControlNet. 'condition' picks what is kept: 'canny' (edges), 'depth' "
        "(3-D layout) or 'seg' (regions). Give 'image' with compute_condition: true to derive the map "
        "from a photo (returned as 'condition'), or 'condition_image' with a ready map. Returns the "
        "generated 'image' and the 'seed'. Use it to restyle a scene or redraw it as something else."
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
        self._estimators: dict[str, tuple[Any, Any]] = {}  # depth/seg → (processor, model)
        for kind in ("depth", "seg"):
            model_id = getattr(s, f"{kind}_model")
            if kind in s.controlnets and model_id is not None:
                self._estimators[kind] = self._load_estimator(kind, model_id)

    def run(self, inputs: ControlNetInput) -> ControlNetOutput:
        kind = inputs.condition
        if kind not in self.settings.controlnets:
            configured = ", ".join(sorted(self.settings.controlnets)) or "none"
            raise ExpertError(
                f"no ControlNet is configured for condition '{kind}' (configured: {configured}); use one "
                f"of those, or add options.controlnets.{kind} to this expert's config"
            )
        computed, condition = self._condition_map(inputs)
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
            condition=NewImage(condition) if computed else None,
            seed=seed,
            nsfw_blocked=bool(flagged and flagged[0]),
        )

    # --- condition maps -----------------------------------------------------------------

    def _condition_map(self, inputs: ControlNetInput) -> tuple[bool, np.ndarray]:
        """(whether the map was computed here, the HxWx3 uint8 condition map)."""
        kind, given, source = inputs.condition, inputs.condition_image, inputs.image
        if given is not None and source is not None:
            raise ExpertError(
                "give either condition_image (a ready map) or image with compute_condition: true, not both"
            )
        if given is not None:
            if inputs.compute_condition:
                raise ExpertError(
                    f"compute_condition needs 'image' (the photo to compute the {kind} map from); "
                    "condition_image is used as it is"
                )
            return False, given.array
        if source is None:
            raise ExpertError(
                f"no condition: give condition_image (an existing {kind} map) or image (a photo) "
                "with compute_condition: true"
            )
        if not inputs.compute_condition:
            raise ExpertError(
                f"'image' is only used with compute_condition: true (compute its {kind} map); pass a "
                "ready map as condition_image instead"
            )
        if kind == "canny":
            return True, canny_edges(source.array, inputs.low_threshold, inputs.high_threshold)
        if kind not in self._estimators:
            raise ExpertError(
                f"this deployment cannot compute {kind} maps (options.{kind}_model is not set); pass a ready "
                f"{kind} map as condition_image instead"
            )
        if kind == "depth":
            return True, self._depth(source.array)
        return True, self._seg(source.array)

    def _depth(self, array: np.ndarray) -> np.ndarray:
        import torch

        processor, model = self._estimators["depth"]
        height, width = array.shape[:2]
        pixels = processor(images=to_pil(array), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            outputs = model(pixel_values=pixels.to(self._device, self._dtype))
        depth = processor.post_process_depth_estimation(outputs, target_sizes=[(height, width)])[0]
        depth = depth["predicted_depth"].float().cpu().numpy()
        span = float(depth.max() - depth.min())
        scaled = (depth - depth.min()) / span * 255.0 if span > 0 else np.zeros_like(depth)
        gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)

    def _seg(self, array: np.ndarray) -> np.ndarray:
        import torch

        processor, model = self._estimators["seg"]
        height, width = array.shape[:2]
        pixels = processor(images=to_pil(array), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            outputs = model(pixel_values=pixels.to(self._device, self._dtype))
        labels = processor.post_process_semantic_segmentation(outputs, target_sizes=[(height, width)])[0]
        return ADE20K_PALETTE[labels.cpu().numpy() % len(ADE20K_PALETTE)]

    # --- loading ------------------------------------------------------------------------

    def _load_estimator(self, kind: str, model_id: str) -> tuple[Any, Any]:
        """The (image processor, model) that computes ``kind`` maps."""
        from transformers import (
            AutoImageProcessor,
            AutoModelForDepthEstimation,
            AutoModelForSemanticSegmentation,
        )

        option = f"{kind}_model"
        model_cls = AutoModelForDepthEstimation if kind == "depth" else AutoModelForSemanticSegmentation
        processor = load_model(
            AutoImageProcessor.from_pretrained, model_id, expert=self.name, option=option, backend="pil"
        )
        model = load_model(
            model_cls.from_pretrained, model_id, expert=self.name, option=option, dtype=self._dtype
        )
        return processor, model.to(self._device).eval()

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
