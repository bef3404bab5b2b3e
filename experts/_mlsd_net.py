"""M-LSD (mobile line segment detection), the large model ControlNet's 'mlsd' annotator uses, in torch.

The backbone is MobileNetV2's first 14 layers with a 4-channel input (RGB in 0..255 and a channel
of ones, all four mapped by x / 127.5 - 1) and TensorFlow-style padding for its stride-2
convolutions (one pixel right and bottom, none elsewhere). Features after layers 1, 3, 6, 10 and 13
(16, 24, 32, 64 and 96 channels, at 1/2 … 1/16 of the input) feed a top-down decoder of three block
types: A fuses a finer feature with the coarser result (1x1 conv each, the coarser one upsampled
2x), B refines (two 3x3 convs, the first residual), C predicts (a dilated 3x3, a 3x3, a 1x1 to 16
channels). The last 9 channels at half the input size are the "TP map": a line-centre logit and, per
pixel, the displacements from the centre to the segment's two ends. Names follow the published
``mlsd_large_512_fp32.pth``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MlsdNet", "decode_segments"]

# (expansion, output channels, repeats, first stride) of MobileNetV2's inverted residual stages used here
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
_TAPS = (1, 3, 6, 10, 13)


class _ConvBnRelu6(nn.Sequential):
    """Conv (no bias), batch norm, ReLU6; stride 2 pads like TensorFlow's 'same' (right and bottom)."""

    def __init__(
        self, channels_in: int, channels_out: int, kernel: int = 3, stride: int = 1, groups: int = 1
    ):
        padding = 0 if stride == 2 else (kernel - 1) // 2
        super().__init__(
            nn.Conv2d(channels_in, channels_out, kernel, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.ReLU6(inplace=True),
        )
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            x = F.pad(x, (0, 1, 0, 1))
        return super().forward(x)


class _InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion (unless 1), 3x3 depthwise, 1x1 linear projection; residual."""

    def __init__(self, channels_in: int, channels_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = channels_in * expansion
        layers: list[nn.Module] = [] if expansion == 1 else [_ConvBnRelu6(channels_in, hidden, kernel=1)]
        layers += [
            _ConvBnRelu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, channels_out, 1, bias=False),
            nn.BatchNorm2d(channels_out),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_ConvBnRelu6(4, 32, stride=2)]
        channels = 32
        for expansion, out, repeats, stride in _STAGES:
            for i in range(repeats):
                layers.append(_InvertedResidual(channels, out, stride if i == 0 else 1, expansion))
                channels = out
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _TAPS:
                taps.append(x)
        return taps


def _conv_bn_relu(channels_in: int, channels_out: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel, padding=padding, dilation=dilation),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(),
    )


class _Fuse(nn.Module):  # block type A
    def __init__(self, fine_channels: int, coarse_channels: int, upscale: bool = True) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(coarse_channels, 64, 1)
        self.conv2 = _conv_bn_relu(fine_channels, 64, 1)
        self.upscale = upscale

    def forward(self, fine: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        coarse = self.conv1(coarse)
        if self.upscale:
            coarse = F.interpolate(coarse, scale_factor=2.0, mode="bilinear", align_corners=True)
        return torch.cat((self.conv2(fine), coarse), dim=1)


class _Refine(nn.Module):  # block type B
    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(channels_in, channels_in, 3)
        self.conv2 = _conv_bn_relu(channels_in, channels_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x) + x)


class _Predict(nn.Module):  # block type C
    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(channels_in, channels_in, 3, dilation=5)
        self.conv2 = _conv_bn_relu(channels_in, channels_in, 3)
        self.conv3 = nn.Conv2d(channels_in, channels_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(x)))


class MlsdNet(nn.Module):
    """M-LSD large: RGB (batch, 3, S, S) in 0..255 → TP map (batch, 9, S/2, S/2)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _Backbone()
        self.block15, self.block16 = _Fuse(64, 96, upscale=False), _Refine(128, 64)
        self.block17, self.block18 = _Fuse(32, 64), _Refine(128, 64)
        self.block19, self.block20 = _Fuse(24, 64), _Refine(128, 64)
        self.block21, self.block22 = _Fuse(16, 64), _Refine(128, 64)
        self.block23 = _Predict(64, 16)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = torch.cat((pixels, torch.ones_like(pixels[:, :1])), dim=1) / 127.5 - 1.0
        c1, c2, c3, c4, c5 = self.backbone(x)
        x = self.block16(self.block15(c4, c5))
        x = self.block18(self.block17(c3, x))
        x = self.block20(self.block19(c2, x))
        x = self.block22(self.block21(c1, x))
        return self.block23(x)[:, 7:]


def decode_segments(
    tp_map: torch.Tensor, score_threshold: float, top_k: int = 200
) -> list[list[tuple[float, float, float, float, float]]]:
    """Line segments per image as (x0, y0, x1, y1, score) in TP-map pixels.

    Centres are local maxima (3x3) of the centre heat (sigmoid of the logit), the ``top_k`` strongest
    kept when their score exceeds ``score_threshold``; each centre's displacements give its two ends.
    """
    heat = tp_map[:, 0].float().sigmoid()
    peaks = heat * (F.max_pool2d(heat[:, None], 3, stride=1, padding=1)[:, 0] == heat)
    width = heat.shape[-1]
    scores, flat = peaks.flatten(1).topk(min(top_k, peaks[0].numel()), dim=1)
    found = []
    for b in range(tp_map.shape[0]):
        segments = []
        for score, index in zip(scores[b].tolist(), flat[b].tolist(), strict=True):
            if score <= score_threshold:
                break  # sorted: the rest are weaker
            y, x = divmod(index, width)
            dx0, dy0, dx1, dy1 = tp_map[b, 1:5, y, x].float().tolist()
            segments.append((x + dx0, y + dy0, x + dx1, y + dy1, score))
        found.append(segments)
    return found
