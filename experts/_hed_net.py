"""HED (holistically-nested edge detection) as ControlNet's soft-edge annotator uses it, in torch.

Five VGG-16 stages (2, 2, 3, 3, 3 convolutions of 3x3 with ReLU; 64, 128, 256, 512, 512 channels; a 2x2
max-pool before every stage but the first). Each stage ends in a 1x1 "side" projection to one
edge-logit channel; the five side maps are scaled to the input size, averaged and passed through a
sigmoid. The input is RGB in 0..255 minus a learned per-channel offset (``norm``). Parameter names
follow the published checkpoint (``ControlNetHED.pth``: ``norm``, ``block1.convs.0.weight``,
``block1.projection.weight`` …), so it loads as it is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["STAGES", "HedNet", "soft_edges"]

STAGES = ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3))
"""(input channels, output channels, convolutions) of each VGG stage."""


class _Stage(nn.Module):
    """3x3 convolutions with ReLU, and a 1x1 side projection of the result to one edge-logit channel."""

    def __init__(self, channels_in: int, channels_out: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(channels_in if i == 0 else channels_out, channels_out, 3, padding=1)
            for i in range(layers)
        )
        self.projection = nn.Conv2d(channels_out, 1, 1)

    def forward(self, x: torch.Tensor, pool: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if pool:
            x = F.max_pool2d(x, kernel_size=2, stride=2)
        for conv in self.convs:
            x = F.relu(conv(x))
        return x, self.projection(x)


class HedNet(nn.Module):
    """The HED network: RGB (batch, 3, H, W) in 0..255 → five side edge-logit maps at falling sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.block1, self.block2, self.block3, self.block4, self.block5 = (_Stage(*s) for s in STAGES)

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        x = pixels - self.norm
        sides = []
        for i, stage in enumerate((self.block1, self.block2, self.block3, self.block4, self.block5)):
            x, side = stage(x, pool=i > 0)
            sides.append(side)
        return sides


def soft_edges(sides: list[torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Edge strength (batch, height, width) in 0..1: the side logits scaled to one size, averaged, sigmoid."""
    scaled = [F.interpolate(side.float(), size=(height, width), mode="bilinear") for side in sides]
    return torch.stack(scaled).mean(dim=0)[:, 0].sigmoid()
