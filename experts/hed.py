"""HED: a soft-edge map of an image (holistically-nested edge detection), ControlNet's 'hed' condition."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts._annotators import by_key, grey_map, resize, short_side_size, stack_pixels
from experts._checkpoint import load_checkpoint
from experts._loading import DeviceSettings
from experts.base import Expert, ExpertError, ImageRef
from experts.maps import NewHed
from loading import pick_device, pick_dtype


class HedInput(BaseModel):
    image: ImageRef = Field(description="the image to find soft edges in")


class HedOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    edges: NewHed = Field(description="soft-edge map, same size as the image: edge strength in grey on black")
    edge_fraction: float = Field(description="share of pixels whose edge strength is over one half (0..1)")


class HedSettings(DeviceSettings):
    """Options for the ``options:`` of the hed entry in the config."""

    model: str = Field(
        default="lllyasviel/Annotators",
        description="hub repository or local directory holding the HED checkpoint",
    )
    filename: str = Field(
        default="ControlNetHED.pth",
        description="the checkpoint file in 'model': .safetensors, or a plain PyTorch state dict",
    )
    resolution: int = Field(
        default=512,
        ge=16,
        le=2048,
        description="the image's shorter side is scaled to this for the network; the map is scaled back",
    )


class Hed(Expert[HedInput, HedOutput]):
    name = "hed"
    extra = "vision"
    description = (
        "Soft edges of an image with HED (holistically-nested edge detection): the outlines and main "
        "contours a person would draw, as grey strokes whose brightness is the edge strength. Returns "
        "'edges', a hed map (hed-N) for controlnet's 'hed' condition or for the scribble expert, and "
        "'edge_fraction'. Use it to redraw a scene's structure loosely; canny gives thin exact edges."
    )
    Input = HedInput
    Output = HedOutput
    Settings = HedSettings

    settings: HedSettings

    def setup(self) -> None:
        from experts._hed_net import HedNet

        s = self.settings
        self._device = pick_device(s.device)
        self._dtype = pick_dtype(s.dtype, self._device)
        net = load_checkpoint(HedNet(), s.model, s.filename, expert=self.name, what="HED")
        self._net = net.to(self._device, self._dtype).eval()

    def run(self, inputs: HedInput) -> HedOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[HedInput]) -> list[HedOutput | ExpertError]:
        """One forward pass per working size: images that scale to the same size run together."""
        import torch

        from experts._hed_net import soft_edges

        sizes = [short_side_size(i.image.width, i.image.height, self.settings.resolution) for i in batch]
        results: list[HedOutput | ExpertError] = [ExpertError("not run")] * len(batch)
        for (width, height), members in by_key(sizes).items():
            pixels = stack_pixels([batch[i].image.array for i in members], (width, height))
            with torch.inference_mode():
                edges = soft_edges(self._net(pixels.to(self._device, self._dtype)), height, width)
            for i, strength in zip(members, edges.cpu().numpy(), strict=True):
                image = batch[i].image
                strength = np.clip(resize(strength, (image.width, image.height)), 0.0, 1.0)
                results[i] = HedOutput(
                    edges=NewHed(grey_map(strength)),
                    edge_fraction=round(float((strength > 0.5).mean()), 4),
                )
        return results
