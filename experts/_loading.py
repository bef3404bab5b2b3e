"""The neural experts' side of :mod:`loading`: the device/dtype settings they share, and model loading
whose errors name the expert and the option to change.

Devices, dtypes and ``from_pretrained`` themselves live once in :mod:`loading` (shared with the
local controller LLM); this module only adds what is particular to an expert's config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from experts.base import Expert
from loading import DTypeName, load_pretrained

__all__ = ["DeviceSettings", "load_model"]


class DeviceSettings(Expert.Settings):
    """Where a neural expert runs: the options every model-backed expert shares."""

    device: str = Field(default="auto", description="auto (cuda when the replica has a GPU), cpu or cuda[:n]")
    dtype: DTypeName = Field(default="auto", description="auto (float16 on cuda, float32 on cpu) or a dtype")


def load_model(
    loader: Callable[..., Any], model: str, *, expert: str, option: str = "model", **kwargs: Any
) -> Any:
    """:func:`loading.load_pretrained` for the model set by the expert's ``options.<option>``."""
    return load_pretrained(loader, model, owner=f"expert '{expert}'", option=f"options.{option}", **kwargs)
