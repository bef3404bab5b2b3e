"""GPU tests: skipped, with the reason, where this machine has no CUDA device torch can use."""

from __future__ import annotations

import pytest


def _no_cuda() -> str | None:
    """Why the GPU tests cannot run here, or None when they can."""
    try:
        import torch
    except ImportError:
        return 'needs a CUDA GPU and torch (pip install "mm-reactor[vision]"); torch is not installed'
    if not torch.cuda.is_available():
        return "needs a CUDA GPU; torch.cuda.is_available() is False on this machine"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _no_cuda() if any(item.get_closest_marker("gpu") for item in items) else None
    if reason:
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(pytest.mark.skip(reason=reason))
