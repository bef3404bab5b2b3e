"""Weights for the annotators written here as torch modules (HED, M-LSD): one checkpoint file, read
from a local directory or a hub repository, loaded strictly into the module.

A checkpoint is a ``.safetensors`` file or a plain PyTorch state dict (``.pth``/``.pt``/``.bin``, read
with ``torch.load(weights_only=True)``: tensors only, never arbitrary pickled objects), so the
annotators' published checkpoints load as they are and a converted ``.safetensors`` copy does too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experts._loading import load_model
from loading import ModelNotAvailable

__all__ = ["load_checkpoint"]


def _read(model: str, *, filename: str, local_files_only: bool = False) -> dict[str, Any]:
    """The state dict of ``filename`` in the directory or hub repository ``model``."""
    if Path(model).is_dir():
        path = Path(model) / filename
    else:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(model, filename, local_files_only=local_files_only))
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors of every kind: not a plain state dict
        raise ValueError(f"{path} is not a safetensors file or a plain PyTorch state dict ({err})") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    return {key.removeprefix("module."): value for key, value in state.items()}


def load_checkpoint(module: Any, model: str, filename: str, *, expert: str, what: str) -> Any:
    """``module`` with the weights of ``filename`` in ``model`` (a directory or hub id), loaded strictly.

    ``what`` names the architecture for the error when the file's tensors do not fit it.
    """
    directory = Path(model).expanduser()
    if directory.is_dir() and not (directory / filename).is_file():
        raise ModelNotAvailable(
            f"expert '{expert}': there is no file {filename} in {model}; set options.filename to the "
            "checkpoint's file name, or options.model to the directory that holds it"
        )
    state = load_model(
        _read, str(directory) if directory.is_dir() else model, expert=expert, filename=filename
    )
    missing, unexpected = _mismatch(module, state)
    if missing or unexpected:
        raise ModelNotAvailable(
            f"expert '{expert}': {filename} in {model} is not a {what} checkpoint: "
            f"{len(missing)} weights missing (e.g. {', '.join(missing[:3]) or '-'}), "
            f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3]) or '-'}); "
            "set options.model and options.filename to the annotator's checkpoint"
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:  # same names, other shapes
        raise ModelNotAvailable(
            f"expert '{expert}': {filename} in {model} does not fit the {what} architecture: {err}"
        ) from None
    return module


def _mismatch(module: Any, state: dict[str, Any]) -> tuple[list[str], list[str]]:
    expected = set(module.state_dict())
    return sorted(expected - set(state)), sorted(set(state) - expected)
