"""M-LSD: the straight line segments of an image as a line map, ControlNet's 'mlsd' condition."""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts._annotators import stack_pixels
from experts._checkpoint import load_checkpoint
from experts._loading import DeviceSettings
from experts.base import Expert, ExpertError, ImageRef
from experts.maps import NewMlsd
from loading import pick_device, pick_dtype

LISTED_SEGMENTS = 20
"""The output lists at most this many segments (the longest); the map draws them all."""


def _inside(
    segments: list[tuple[float, float, float, float]], width: int, height: int, shortest: float
) -> list[list[float]]:
    """Segments with their ends clamped to the image, those at least ``shortest`` long, rounded."""
    kept = []
    for x0, y0, x1, y1 in segments:
        ends = [min(max(x0, 0.0), width - 1.0), min(max(y0, 0.0), height - 1.0)]
        ends += [min(max(x1, 0.0), width - 1.0), min(max(y1, 0.0), height - 1.0)]
        if math.dist(ends[:2], ends[2:]) >= max(shortest, 1e-6):
            kept.append([round(v, 1) for v in ends])
    return kept


class MlsdInput(BaseModel):
    image: ImageRef = Field(description="the image to find straight lines in")
    score_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="keep segments whose confidence exceeds this (default $score_threshold); lower: more",
    )
    min_length: float | None = Field(
        default=None, ge=0.0, description="drop segments shorter than this many pixels (default $min_length)"
    )


class MlsdOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    lines: NewMlsd = Field(description="line map, same size as the image: white segments on black")
    count: int = Field(description="number of segments found")
    segments: list[list[float]] = Field(
        description=f"the longest segments (at most {LISTED_SEGMENTS}) as [x0, y0, x1, y1] in image pixels"
    )


class MlsdSettings(DeviceSettings):
    """Options for the ``options:`` of the mlsd entry in the config."""

    model: str = Field(
        default="lllyasviel/ControlNet",
        description="hub repository or local directory holding the M-LSD (large) checkpoint",
    )
    filename: str = Field(
        default="annotator/ckpts/mlsd_large_512_fp32.pth",
        description="the checkpoint file in 'model': .safetensors, or a plain PyTorch state dict",
    )
    resolution: int = Field(
        default=512,
        ge=64,
        le=2048,
        multiple_of=16,
        description="the square size images are scaled to for the network (a multiple of 16)",
    )
    score_threshold: float = Field(default=0.1, ge=0.0, le=1.0, description="default segment confidence cut")
    min_length: float = Field(default=2.0, ge=0.0, description="default shortest segment kept, in pixels")


class Mlsd(Expert[MlsdInput, MlsdOutput]):
    name = "mlsd"
    extra = "vision"
    description = (
        "Find the straight line segments of an image with M-LSD (walls, edges of buildings, furniture, "
        "roads). Returns 'lines', an mlsd map (mlsd-N: white segments on black) for controlnet's 'mlsd' "
        "condition, 'count', and the longest 'segments' as [x0, y0, x1, y1]. Use it for architecture and "
        "interiors; curved outlines are not lines (use hed or canny)."
    )
    Input = MlsdInput
    Output = MlsdOutput
    Settings = MlsdSettings

    settings: MlsdSettings

    def setup(self) -> None:
        from experts._mlsd_net import MlsdNet

        s = self.settings
        self._device = pick_device(s.device)
        self._dtype = pick_dtype(s.dtype, self._device)
        net = load_checkpoint(MlsdNet(), s.model, s.filename, expert=self.name, what="M-LSD (large)")
        self._net = net.to(self._device, self._dtype).eval()

    def run(self, inputs: MlsdInput) -> MlsdOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[MlsdInput]) -> list[MlsdOutput | ExpertError]:
        """One forward pass for the whole batch: every image is scaled to the same square."""
        import torch

        from experts._mlsd_net import decode_segments

        s = self.settings
        side = s.resolution
        pixels = stack_pixels([inputs.image.array for inputs in batch], (side, side))
        with torch.inference_mode():
            tp_map = self._net(pixels.to(self._device, self._dtype))
        thresholds = [s.score_threshold if i.score_threshold is None else i.score_threshold for i in batch]
        found = decode_segments(tp_map, min(thresholds))
        map_height, map_width = tp_map.shape[-2:]
        results: list[MlsdOutput | ExpertError] = []
        for inputs, threshold, segments in zip(batch, thresholds, found, strict=True):
            shortest = s.min_length if inputs.min_length is None else inputs.min_length
            width, height = inputs.image.width, inputs.image.height
            sx, sy = width / map_width, height / map_height  # TP-map pixels → image pixels
            scaled = [
                (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
                for x0, y0, x1, y1, score in segments
                if score > threshold
            ]
            results.append(self._output(_inside(scaled, width, height, shortest), width, height))
        return results

    @staticmethod
    def _output(segments: list[list[float]], width: int, height: int) -> MlsdOutput:
        canvas = np.zeros((height, width, 3), np.uint8)
        for x0, y0, x1, y1 in segments:
            cv2.line(canvas, (round(x0), round(y0)), (round(x1), round(y1)), (255, 255, 255), 1)
        longest = sorted(segments, key=lambda g: -math.dist(g[:2], g[2:]))[:LISTED_SEGMENTS]
        return MlsdOutput(lines=NewMlsd(canvas), count=len(segments), segments=longest)
