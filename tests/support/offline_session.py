"""A session driven without Ray: the real graph, runner and checkpointer, with in-process expert handles.

For tests that look at what a long session stores (checkpoint bytes, task messages), not at serving:
:class:`InProcessHandle` stands in for a Serve ``DeploymentHandle`` of an expert that takes no pixels
(``noop``), answering each call at once with the expert's typed :class:`~experts.protocol.Reply`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from experts.base import Expert
from experts.protocol import Reply
from llm.scripted import ScriptedChatModel
from orchestrator.agent.graph import build_graph
from orchestrator.agent.runner import Runner
from orchestrator.config import ReactorConfig
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue
from orchestrator.storage.artifacts import ArtifactStore

__all__ = ["InProcessHandle", "OfflineSession", "small_image"]


class _Response:
    def __init__(self, reply: Reply) -> None:
        self._reply = reply

    def result(self, timeout_s: float | None = None) -> Reply:
        return self._reply

    def cancel(self) -> None:
        pass


class InProcessHandle:
    """Runs a pixel-free expert in this process, as its replica would, and answers with a Reply."""

    def __init__(self, expert: Expert, replica: str) -> None:
        self.expert, self.replica = expert, replica

    def remote(self, arguments: dict[str, Any]) -> _Response:
        output = self.expert.run(type(self.expert).Input.model_validate(arguments))
        return _Response(Reply(replica=self.replica, output=output.model_dump()))


def small_image(seed: int) -> np.ndarray:
    """A tiny distinct input image per task."""
    return np.random.default_rng(seed).integers(0, 255, (6, 8, 3), dtype=np.uint8)


class OfflineSession:
    """One orchestrator's runner over a SQLite file, with ``noop`` served in process."""

    def __init__(self, root: Path, **config: Any) -> None:
        from experts.noop import Noop

        self.path = root / "sessions.sqlite"
        self.connection = sqlite3.connect(self.path, check_same_thread=False)
        from langgraph.checkpoint.sqlite import SqliteSaver

        self.saver = SqliteSaver(self.connection)
        self.config = ReactorConfig.model_validate({"data_dir": str(root), **config})
        catalogue = ExpertCatalogue()
        handle = InProcessHandle(Noop(), "noop#0")
        catalogue.add(DeployedExpert("noop", Noop, handle, "offline-noop", 5.0))  # type: ignore[arg-type]
        self.graph = build_graph(self.saver)
        self.runner = Runner(self.graph, ArtifactStore(root / "artifacts"), catalogue, self.config)

    def run(self, task: str, script: list[Any], *, session: str = "s", images: list[Any] | None = None,
            steps: int = 6, **options: Any) -> Any:
        """One task to its Result (the last event's)."""
        controller = ScriptedChatModel(script)
        events = list(self.runner.start(task, images or [], session, steps, controller, **options))
        return events[-1].result, controller

    def stored_bytes(self) -> int:
        """Bytes of every checkpoint, its metadata and every pending write stored so far."""
        (checkpoints,) = self.connection.execute(
            "SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints"
        ).fetchone()
        (writes,) = self.connection.execute("SELECT coalesce(sum(length(value)), 0) FROM writes").fetchone()
        return int(checkpoints) + int(writes)

    def close(self) -> None:
        self.connection.close()
