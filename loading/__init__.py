"""Where a model runs and how its weights load: shared by the vision experts and the local controller LLM.

One home for what ``experts/`` and ``llm/`` both need (neither may import ``orchestrator/``, and
neither should import the other): the device a replica or process computes on, the torch dtype,
and ``from_pretrained`` with one clear error that names the model and how to provide it.
Imports torch lazily, so importing this package stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DTypeName",
    "DeviceName",
    "ModelNotAvailable",
    "load_pretrained",
    "looks_like_path",
    "pick_device",
    "pick_dtype",
]

DeviceName = Literal["auto", "cpu", "cuda"] | str
"""``auto`` (CUDA when this process sees a GPU), ``cpu``, ``cuda`` or ``cuda:N``."""

DTypeName = Literal["auto", "float32", "float16", "bfloat16"]
"""``auto`` (float16 on CUDA, float32 on CPU) or a torch floating dtype by name."""

_DTYPES = ("float32", "float16", "bfloat16")


class ModelNotAvailable(RuntimeError):
    """A configured model could not be loaded; the message names it and how to provide it."""


def pick_device(setting: str = "auto") -> str:
    """``auto`` → ``cuda`` when this process sees a GPU (Ray sets CUDA_VISIBLE_DEVICES), else ``cpu``.

    Asking for CUDA where there is none is an error that says how to get one, not a silent CPU run.
    """
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ModelNotAvailable(
            f"device '{setting}' was asked for but no CUDA GPU is visible here; give the deployment "
            "ray_actor_options.num_gpus (e.g. 0.5) or set device: auto"
        )
    return setting


def pick_dtype(setting: str, device: str) -> Any:
    """``auto`` → float16 on CUDA, float32 on CPU; otherwise the named torch dtype."""
    import torch

    if setting == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    if setting not in _DTYPES:
        raise ModelNotAvailable(f"dtype '{setting}' is not one of auto, {', '.join(_DTYPES)}")
    return getattr(torch, setting)


def looks_like_path(model: str) -> bool:
    """True for ids that can only be filesystem paths (hub ids are ``name`` or ``org/name``)."""
    return model.startswith(("/", "./", "../", "~", "\\")) or model.count("/") > 1 or "\\" in model


def load_pretrained(loader: Callable[..., Any], model: str, *, owner: str, option: str, **kwargs: Any) -> Any:
    """``loader(model, **kwargs)`` (a ``from_pretrained``), offline first, with one clear error.

    A local directory loads with ``local_files_only=True``; a hub id is looked up in the local hub
    cache first and only then on the hub. ``owner`` (``"expert 'detect'"``) and ``option`` (the
    setting that names the model, ``"options.model"``) make the error say what to change.
    """
    local = Path(model).expanduser()
    if local.is_dir():
        try:
            return loader(str(local), local_files_only=True, **kwargs)
        except (OSError, ValueError) as err:
            raise ModelNotAvailable(
                f"{owner}: cannot load model directory {model}: {err}\nThe directory must hold "
                "config.json, the weights and the processor/tokenizer files, as written by save_pretrained "
                f"or `hf download MODEL --local-dir DIR`; set {option} to such a directory."
            ) from err
    if looks_like_path(model):
        raise ModelNotAvailable(
            f"{owner}: model directory {model} does not exist; download the model on a machine with hub "
            f"access and set {option} to the directory holding it"
        )
    try:
        return loader(model, local_files_only=True, **kwargs)
    except (OSError, ValueError):
        pass  # not in the local hub cache: ask the hub (fails fast when HF_HUB_OFFLINE=1)
    try:
        return loader(model, **kwargs)
    except (OSError, ValueError) as err:
        offline = (
            " (this machine is offline: HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        )
        raise ModelNotAvailable(
            f"{owner}: cannot load model '{model}': not in the local hub cache and the hub failed{offline} "
            f"({err})\nTo provide it, download it on a machine with hub access (`hf download {model} "
            f"--local-dir DIR`), copy DIR to every node that runs it, and set {option} to DIR."
        ) from err
