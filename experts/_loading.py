"""Shared by the neural experts: device and dtype per replica, and model loading with clear errors.

Imports torch lazily so the light experts never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

__all__ = ["DTypeName", "DeviceName", "ModelNotAvailable", "load_pretrained", "pick_device", "pick_dtype"]

DeviceName = Literal["auto", "cpu", "cuda"] | str
DTypeName = Literal["auto", "float32", "float16", "bfloat16"]


class ModelNotAvailable(RuntimeError):
    """The configured model could not be loaded; the message names it and how to provide it."""


def pick_device(setting: str = "auto") -> str:
    """``auto`` → ``cuda`` when this replica was given a GPU (Ray sets CUDA_VISIBLE_DEVICES), else ``cpu``."""
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ModelNotAvailable(
            f"device '{setting}' was asked for but this replica sees no CUDA GPU; give the deployment "
            "ray_actor_options.num_gpus (e.g. 0.5) or set device: auto"
        )
    return setting


def pick_dtype(setting: str, device: str) -> Any:
    """``auto`` → float16 on CUDA, float32 on CPU; otherwise the named torch dtype."""
    import torch

    if setting == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[setting]
    except KeyError:
        raise ModelNotAvailable(f"dtype '{setting}' is not one of auto, float32, float16, bfloat16") from None


def load_pretrained(
    loader: Callable[..., Any], model: str, *, expert: str, option: str = "model", **kwargs: Any
) -> Any:
    """``loader(model, **kwargs)`` (a ``from_pretrained``) with one clear error when the model is missing.

    A local directory is loaded with ``local_files_only=True``; a hub id is looked up in the
    local cache (and, where the hub is reachable, downloaded).
    """
    local = Path(model).expanduser()
    if local.is_dir():
        kwargs.setdefault("local_files_only", True)
        model = str(local)
    elif model.startswith(("/", "./", "~")):
        raise ModelNotAvailable(f"expert '{expert}': model directory {model} does not exist")
    try:
        return loader(model, **kwargs)
    except (OSError, ValueError) as err:
        offline = (
            " (this machine is offline: HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        )
        raise ModelNotAvailable(
            f"expert '{expert}': could not load model '{model}'{offline}: {err}\n"
            f"Download it on a machine with hub access (`huggingface-cli download {model} --local-dir DIR`), "
            f"copy DIR to every node that runs this expert, and set the expert's options.{option} to DIR."
        ) from err
