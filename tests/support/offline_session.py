"""A session driven without Ray: the real graph, runner and checkpointer, with in-process expert handles.

For tests that look at what a long session stores (checkpoint bytes, task messages, run limits),
not at serving: :class:`InProcessHandle` stands in for a Serve ``DeploymentHandle`` of an expert
that takes no pixels, answering each call at once with the expert's typed
:class:`~experts.protocol.Reply`. The session serves ``noop`` and ``gate`` (a ``noop`` whose calls
wait for approval when the config asks for it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.channels import DeltaChannel
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from experts.base import Expert
from experts.noop import Noop
from experts.protocol import Reply
from llm.scripted import ScriptedChatModel, ScriptEntry
from orchestrator.agent.graph import build_graph
from orchestrator.agent.plan import validate_plan
from orchestrator.agent.runner import Runner
from orchestrator.agent.state import SNAPSHOT_EVERY
from orchestrator.config import ReactorConfig
from orchestrator.named_inputs import collect_inputs
from orchestrator.result import Result
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue
from orchestrator.storage.artifacts import ArtifactStore

__all__ = ["InProcessHandle", "OfflineSession", "noop_call", "small_image"]


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

    def remote(self, arguments: dict[str, Any], *, inline: bool = False) -> _Response:
        output = self.expert.run(type(self.expert).Input.model_validate(arguments))
        return _Response(Reply(replica=self.replica, output=output.model_dump()))


def small_image(seed: int) -> np.ndarray:
    """A tiny input image, different for each seed."""
    return np.random.default_rng(seed).integers(0, 255, (6, 8, 3), dtype=np.uint8)


def noop_call(payload: str, tool: str = "noop") -> str:
    """A controller turn calling ``tool`` (``noop`` or ``gate``) with ``payload``."""
    return f'Thought: check\nAction: {tool}\nAction Input: {{"payload": "{payload}"}}'


class OfflineSession:
    """One orchestrator's runner over a SQLite file in ``root`` (an existing one is opened as it is).

    ``snapshot_every`` makes every history channel snapshot after that many updates (to cross many
    snapshots in a short session).
    """

    def __init__(self, root: Path, *, snapshot_every: int | None = None, **config: Any) -> None:
        self.path = root / "sessions.sqlite"
        self.connection = sqlite3.connect(self.path, check_same_thread=False)
        self.saver = SqliteSaver(self.connection)
        self.saver.setup()
        self.config = ReactorConfig.model_validate({"data_dir": str(root), **config})
        catalogue = ExpertCatalogue()
        for name in ("noop", "gate"):
            handle = InProcessHandle(Noop(), f"{name}#0")
            catalogue.add(DeployedExpert(name, Noop, handle, f"offline-{name}", 5.0))  # type: ignore[arg-type]
        self.catalogue = catalogue
        self.graph = build_graph(self.saver)
        if snapshot_every is not None:
            for name in SNAPSHOT_EVERY:
                channel = self.graph.channels[name]
                assert isinstance(channel, DeltaChannel)
                channel.snapshot_frequency = snapshot_every
        self.runner = Runner(self.graph, ArtifactStore(root / "artifacts"), catalogue, self.config)

    @staticmethod
    def _result(events: Iterator[Any]) -> Result:
        result: Result = list(events)[-1].result
        return result

    def run(
        self,
        task: str,
        script: list[ScriptEntry],
        *,
        session: str = "s",
        images: list[Any] | None = None,
        steps: int = 6,
        **options: Any,
    ) -> tuple[Result, ScriptedChatModel]:
        """One task to its Result, and the scripted controller (what it saw)."""
        controller = ScriptedChatModel(script)
        return self._result(
            self.runner.start(
                task, collect_inputs(images, None, None, self.config), session, steps, controller, **options
            )
        ), controller

    def run_plan(self, steps: list[dict[str, Any]], *, session: str = "s", task: str = "a plan") -> Result:
        """An explicit plan, as ``Orchestrator.run_plan`` starts one (its budget: one turn per step)."""
        plan = validate_plan(steps, self.catalogue)
        extra = {"plan": plan.to_json(), "plan_results": None, "pipeline": True}
        events = self.runner.start(task, [], session, len(plan.steps), ScriptedChatModel([]), extra=extra)
        return self._result(events)

    def approve(self, script: list[ScriptEntry] | None = None, *, session: str = "s") -> Result:
        """Approve the calls the session's run waits for, and continue it."""
        command = Command(resume={"approved": True, "reason": None})
        return self._result(self.runner.resume(session, ScriptedChatModel(script or []), command=command))

    def stored_bytes(self) -> int:
        """Bytes of every checkpoint, its metadata and every pending write stored so far."""
        (checkpoints,) = self.connection.execute(
            "SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints"
        ).fetchone()
        (writes,) = self.connection.execute("SELECT coalesce(sum(length(value)), 0) FROM writes").fetchone()
        return int(checkpoints) + int(writes)

    def checkpoint_sizes(self, session: str = "s") -> list[int]:
        """The size of each stored checkpoint of ``session``, oldest first."""
        rows = self.connection.execute(
            "SELECT length(checkpoint) FROM checkpoints WHERE thread_id = ? ORDER BY checkpoint_id",
            (session,),
        ).fetchall()
        return [int(size) for (size,) in rows]

    def close(self) -> None:
        self.connection.close()
