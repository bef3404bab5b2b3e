"""Run-scoped context handed to every graph node (not checkpointed)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray

from llm.base import ChatModel
from orchestrator.serving.catalogue import ExpertCatalogue
from orchestrator.storage.artifacts import ArtifactRecord, ArtifactStore

__all__ = ["PixelCache", "RunContext"]


class PixelCache:
    """Puts each artifact's pixels into Ray's object store once per task and reuses the reference."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store
        self._arrays: dict[str, np.ndarray] = {}
        self._refs: dict[str, ray.ObjectRef] = {}
        self.puts = 0

    def remember(self, artifact_id: str, array: np.ndarray) -> None:
        """Keep pixels already in memory (decoded inputs, fresh outputs) to skip a disk read."""
        self._arrays.setdefault(artifact_id, array)

    def ref(self, record: ArtifactRecord) -> ray.ObjectRef:
        """The object reference of the artifact's pixels, putting them on first use."""
        artifact_id = record["id"]
        if artifact_id not in self._refs:
            array = self._arrays.pop(artifact_id, None)
            if array is None:
                array = self._store.load(record)
            self._refs[artifact_id] = ray.put(array)
            self.puts += 1
        return self._refs[artifact_id]


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
    max_replans: int = 2
    context_budget_tokens: int = 6000
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
