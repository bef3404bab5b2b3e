"""The neural experts as a GPU node runs them, with a check inside the replica that they really do.

Each ``…OnCuda`` class is the real expert plus one step after its own ``setup()``: it fails the
replica unless it sees a CUDA device and every torch module the expert loaded sits on it (and,
where asked, in float16). A deployment that silently fell back to the CPU therefore fails to
start, with that message, instead of passing slowly. :func:`on_gpu` deploys one the way the
production config does: ``ray_actor_options.num_gpus`` and ``device: auto``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from experts.clip import Clip
from experts.controlnet import ControlNet
from experts.detect import Detect
from experts.gligen import Gligen
from experts.inpaint import Inpaint
from experts.mllm import Mllm
from experts.segment import Segment
from tests.experts.harness import deployed

GPU_SHARE = 0.25  # fractional GPUs, as a packed production node gives them
BATCHING = {"max_batch_size": 8, "batch_wait_timeout_s": 0.05}


def _modules(value: Any, path: str, depth: int, seen: set[int]) -> Iterator[tuple[str, Any]]:
    """``(attribute path, torch module)`` for the modules reachable from an expert's attributes."""
    import torch

    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, torch.nn.Module):
        yield path, value
        return
    if depth > 3:
        return
    components = getattr(value, "components", None)  # a diffusers pipeline: check each part
    if isinstance(components, dict):
        items: Any = components.items()
    elif isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif type(value).__module__.startswith("experts.") and hasattr(value, "__dict__"):
        items = vars(value).items()  # an expert's own helper object (e.g. segment's backend)
    else:
        return
    for key, item in items:
        yield from _modules(item, f"{path}.{key}", depth + 1, seen)


def check_device(expert: Any, device: str = "cuda", dtype: str | None = None) -> list[str]:
    """Raise unless the expert's torch modules are all on ``device`` (and ``dtype``); return their paths."""
    import torch

    name = type(expert).name
    if device == "cuda" and not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise RuntimeError(
            f"{name}: this replica sees no CUDA device (CUDA_VISIBLE_DEVICES={visible!r}); "
            "was the deployment given ray_actor_options.num_gpus?"
        )
    found = list(_modules(vars(expert), "", 0, set()))
    if not found:
        raise RuntimeError(f"{name}: setup() loaded no torch module that this check can find")
    for path, module in found:
        devices = {p.device.type for p in module.parameters()} | {b.device.type for b in module.buffers()}
        if devices - {device}:
            raise RuntimeError(f"{name}: {path} has tensors on {sorted(devices)}, not all on {device}")
        first = next((p for p in module.parameters() if p.is_floating_point()), None)
        if dtype and first is not None and first.dtype != getattr(torch, dtype):
            raise RuntimeError(f"{name}: {path} is {first.dtype}, expected torch.{dtype}")
    return [path for path, _ in found]


class OnCuda:
    """Mixin for an expert class: its ``setup()`` then checks the loaded models are on CUDA."""

    expect_device: ClassVar[str] = "cuda"
    expect_dtype: ClassVar[str | None] = None

    def setup(self) -> None:
        super().setup()  # type: ignore[misc]
        check_device(self, self.expect_device, self.expect_dtype)


class DetectOnCuda(OnCuda, Detect):
    pass


class SegmentOnCuda(OnCuda, Segment):
    expect_dtype = "float16"


class ClipOnCuda(OnCuda, Clip):
    pass


class MllmOnCuda(OnCuda, Mllm):
    expect_dtype = "float16"


class ControlNetOnCuda(OnCuda, ControlNet):
    pass


class GligenOnCuda(OnCuda, Gligen):
    expect_dtype = "float16"


class InpaintOnCuda(OnCuda, Inpaint):
    pass


@contextmanager
def on_gpu(orch: Any, expert: type, options: dict[str, Any], **deployment: Any) -> Iterator[str]:
    """Deploy ``expert`` on a fraction of a GPU with ``device: auto``, as production does; yield its name."""
    settings = {"timeout_s": 180, "max_ongoing_requests": 8} | deployment
    with deployed(
        orch, expert, num_gpus=GPU_SHARE, num_cpus=1, options={"device": "auto", **options}, **settings
    ) as name:
        yield name
