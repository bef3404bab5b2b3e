"""Depth: a monocular depth map of an image (DPT / Depth Anything through transformers)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from experts._annotators import by_key, grey_map
from experts._diffusion import to_pil
from experts._loading import DeviceSettings, load_model
from experts.base import Expert, ExpertError, ImageRef
from experts.maps import NewDepth
from loading import pick_device, pick_dtype


class DepthInput(BaseModel):
    image: ImageRef = Field(description="the image to estimate depth for")


class DepthOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    depth: NewDepth = Field(
        description="depth map, same size as the image: grey, near is bright (relative depth, 0..255)"
    )


class DepthSettings(DeviceSettings):
    """Options for the ``options:`` of the depth entry in the config."""

    model: str = Field(
        default="Intel/dpt-hybrid-midas",
        description="hub id or local directory of a transformers depth estimator (DPT, Depth Anything, …)",
    )


class Depth(Expert[DepthInput, DepthOutput]):
    name = "depth"
    extra = "vision"
    description = (
        "Estimate the depth of every pixel of an image (monocular depth, DPT / Depth Anything). Returns "
        "'depth', a depth map (depth-N) of the same size: grey, near is bright, relative to the scene "
        "(not metres). Use it to show or reason about what is near or far, as controlnet's 'depth' "
        "condition, or as the input of the normal expert."
    )
    Input = DepthInput
    Output = DepthOutput
    Settings = DepthSettings

    settings: DepthSettings

    def setup(self) -> None:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        s = self.settings
        self._device = pick_device(s.device)
        self._dtype = pick_dtype(s.dtype, self._device)
        self._processor = load_model(
            AutoImageProcessor.from_pretrained, s.model, expert=self.name, backend="pil"
        )
        model = load_model(
            AutoModelForDepthEstimation.from_pretrained, s.model, expert=self.name, dtype=self._dtype
        )
        self._model = model.to(self._device).eval()
        # Metric models predict distance (far is large); relative ones predict disparity (near is large).
        self._metric = getattr(model.config, "depth_estimation_type", "relative") == "metric"

    def run(self, inputs: DepthInput) -> DepthOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[DepthInput]) -> list[DepthOutput | ExpertError]:
        """One forward pass per processed size (images of one aspect ratio run together)."""
        import torch

        pixels = [
            self._processor(images=to_pil(i.image.array), return_tensors="pt")["pixel_values"] for i in batch
        ]
        results: list[DepthOutput | ExpertError] = [ExpertError("not run")] * len(batch)
        for members in by_key([tuple(p.shape) for p in pixels]).values():
            stacked = torch.cat([pixels[i] for i in members]).to(self._device, self._dtype)
            with torch.inference_mode():
                outputs = self._model(pixel_values=stacked)
            sizes = [(batch[i].image.height, batch[i].image.width) for i in members]
            predicted = self._processor.post_process_depth_estimation(outputs, target_sizes=sizes)
            for i, item in zip(members, predicted, strict=True):
                results[i] = DepthOutput(depth=NewDepth(self._map(item["predicted_depth"])))
        return results

    def _map(self, predicted: Any) -> Any:
        values = predicted.float().cpu().numpy()
        return grey_map(-values if self._metric else values, normalise=True)
