"""Where the real-weight tests find models: ``$MM_REACTOR_WEIGHTS/<model id>/``.

Each model sits under the weights directory at its hub id, as ``huggingface-cli download`` writes
it, e.g. ``$MM_REACTOR_WEIGHTS/<org>/<model>/config.json``. The ids are the
experts' own ``Settings`` defaults, so the tests load exactly what a default config deploys.
The controller has no default model: name one with ``$MM_REACTOR_WEIGHTS_CONTROLLER``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

WEIGHTS_ENV = "MM_REACTOR_WEIGHTS"
CONTROLLER_ENV = "MM_REACTOR_WEIGHTS_CONTROLLER"
LAYOUT = (
    "each model in <dir>/<model id>/, e.g. `huggingface-cli download <org>/<model> --local-dir "
    "<dir>/<org>/<model>` for each expert's default model (its Settings().model)"
)


def weights_root() -> Path | None:
    """The weights directory, or None when ``$MM_REACTOR_WEIGHTS`` is unset or not a directory."""
    root = os.environ.get(WEIGHTS_ENV, "").strip()
    return Path(root).expanduser() if root and Path(root).expanduser().is_dir() else None


def skip_reason() -> str | None:
    """Why no real-weight test can run here, or None."""
    if weights_root() is not None:
        return None
    given = os.environ.get(WEIGHTS_ENV, "").strip()
    where = f" ({given} is not a directory)" if given else ""
    return f"needs real weights: set {WEIGHTS_ENV}=<dir> with {LAYOUT}{where}"


def model_dir(model_id: str) -> str:
    """The local directory of ``model_id``; the test is skipped, saying what to download, when absent."""
    root = weights_root()
    if root is None:
        pytest.skip(skip_reason() or "")
    path = root / model_id
    if not (path / "config.json").is_file() and not (path / "model_index.json").is_file():
        pytest.skip(
            f"needs real weights: {path} holds no model; run `huggingface-cli download {model_id} "
            f"--local-dir {path}`"
        )
    return str(path)
