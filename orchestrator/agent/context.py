"""Run-scoped context handed to every graph node (not checkpointed)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from llm.base import ChatModel
from orchestrator.agent.pixels import PixelCache
from orchestrator.serving.catalogue import ExpertCatalogue
from orchestrator.storage.artifacts import ArtifactStore

__all__ = ["PixelCache", "RunContext"]


@dataclass
class RunContext:
    """What the nodes of one run need besides the state."""

    llm: ChatModel
    catalogue: ExpertCatalogue
    store: ArtifactStore
    system_prompt: str
    max_steps: int
    max_parse_retries: int
    pixels: PixelCache
    """The run's pixels in Ray's object store, and the writer saving new ones to the artifact store."""
    max_replans: int = 2
    context_budget_tokens: int = 6000
    max_image_pixels: int | None = None
    """The pixel cap of input images, which images and masks made by experts obey too."""
    approval: frozenset[str] = frozenset()
    """Experts whose calls wait for a person's approval (a LangGraph interrupt)."""
    deadline: float | None = None
    """``time.monotonic()`` after which the run stops issuing calls."""
    cancel: threading.Event = field(default_factory=threading.Event)

    def stop_reason(self) -> str | None:
        """Why the run must stop now (cancelled, deadline passed), or None."""
        if self.cancel.is_set():
            return "the task was cancelled"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "the task's deadline passed"
        return None

    extra: dict[str, Any] = field(default_factory=dict)
