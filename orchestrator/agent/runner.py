"""Start, resume and stop runs of the graph for one orchestrator; the SDK's engine room."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from llm.base import ChatModel
from orchestrator.agent.context import RunContext
from orchestrator.agent.execution import drive
from orchestrator.agent.input_artifacts import TaskInput, store_inputs
from orchestrator.agent.pixels import PixelCache
from orchestrator.agent.state import AgentState
from orchestrator.config import ReactorConfig
from orchestrator.errors import InputError
from orchestrator.events import RunStarted
from orchestrator.result import describe_artifact
from orchestrator.serving.catalogue import ExpertCatalogue
from orchestrator.storage.artifacts import ArtifactRecord, ArtifactStore
from prompts import render

__all__ = ["Runner"]


class Runner:
    """Runs of one orchestrator's graph: one at a time per session, cancellable, resumable."""

    def __init__(
        self,
        graph: CompiledStateGraph[AgentState, RunContext, AgentState, AgentState],
        store: ArtifactStore,
        catalogue: ExpertCatalogue,
        config: ReactorConfig,
    ) -> None:
        self.graph = graph
        self.store = store
        self.catalogue = catalogue
        self.config = config
        self._lock = threading.RLock()
        self._active: dict[str, threading.Event] = {}

    # -- session state ------------------------------------------------------------------------------
    @staticmethod
    def thread(session: str, steps_budget: int = 8) -> RunnableConfig:
        return {"configurable": {"thread_id": session}, "recursion_limit": 6 * steps_budget + 60}

    def values(self, session: str) -> dict[str, Any]:
        return dict(self.graph.get_state(self.thread(session)).values)

    def table(self, session: str) -> dict[str, ArtifactRecord]:
        return dict(self.values(session).get("artifacts", {}))

    def unfinished(self, session: str) -> dict[str, Any] | None:
        """The session's last run if it did not finish: its task, progress and whether it awaits approval."""
        snapshot = self.graph.get_state(self.thread(session))
        if not snapshot.next:
            return None
        values = snapshot.values
        return {
            "run_id": values.get("run_id"),
            "task": values.get("task"),
            "turn": values.get("turn", 0),
            "steps": len([s for s in values.get("steps", []) if s["run_id"] == values.get("run_id")]),
            "next": list(snapshot.next),
            "awaiting_approval": bool(snapshot.interrupts),
        }

    def mark_interrupted(self, session: str) -> str | None:
        """Close an unfinished run as interrupted (kept in the transcript); returns its run id."""
        unfinished = self.unfinished(session)
        if unfinished is None:
            return None
        if unfinished["awaiting_approval"]:
            raise InputError(
                f"session {session!r} has a run waiting for approval ({unfinished['task']!r}); "
                "call approve() or deny() first"
            )
        note = (
            f"The previous task ({unfinished['task']!r}) was interrupted after {unfinished['steps']} steps "
            "because its process stopped; its artifacts so far are kept."
        )
        self.graph.update_state(
            self.thread(session),
            {
                "status": "interrupted",
                "failure": "interrupted: the process stopped during the run",
                "pending": [],
                "outcomes": [],
                "plan": None,
                "transcript": [{"role": "user", "content": note}],
                "runs": [
                    {
                        "run_id": unfinished["run_id"],
                        "status": "interrupted",
                        "failure": "the process stopped during the run",
                    }
                ],
            },
            as_node="finish",
        )
        return unfinished["run_id"]

    # -- runs ---------------------------------------------------------------------------------------
    def _context(
        self, controller: ChatModel, steps_budget: int, deadline_s: float | None, cancel: threading.Event
    ) -> RunContext:
        return RunContext(
            llm=controller,
            catalogue=self.catalogue,
            store=self.store,
            system_prompt=self.system_prompt(),
            max_steps=steps_budget,
            max_parse_retries=self.config.max_parse_retries,
            pixels=PixelCache(self.store),
            max_replans=self.config.max_replans,
            context_budget_tokens=self.config.context_budget_tokens,
            approval=frozenset(self.config.approval_required),
            deadline=time.monotonic() + deadline_s if deadline_s else None,
            cancel=cancel,
        )

    def system_prompt(self) -> str:
        answerers = self.catalogue.task_answerers()
        routing = render("routing_mllm", expert=answerers[0]) if self.config.direct_mllm and answerers else ""
        return render("system", catalogue=self.catalogue.render(), routing=routing)

    def start(
        self,
        task: str,
        inputs: Sequence[TaskInput],
        session: str,
        steps_budget: int,
        controller: ChatModel,
        *,
        deadline_s: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Iterator[Any]:
        """A new run on ``session``: store the inputs (images, videos, named masks, boxes and texts:
        :mod:`~orchestrator.agent.input_artifacts`), then stream the run's events."""
        started = time.perf_counter()
        with self._session(session) as cancel:
            interrupted = self.mark_interrupted(session)
            before = self.values(session)
            table: dict[str, ArtifactRecord] = dict(before.get("artifacts", {}))
            context = self._context(controller, steps_budget, deadline_s, cancel)
            new = store_inputs(self.store, table, inputs, remember=context.pixels.remember)
            listing = "\n".join(describe_artifact(r) for r in {**table, **new}.values()) or "(none)"
            run_id = uuid.uuid4().hex[:12]
            run_input: dict[str, Any] = {
                "run_id": run_id,
                "task": task,
                "transcript": [{"role": "user", "content": render("task", task=task, artifacts=listing)}],
                "runs": [
                    {
                        "run_id": run_id,
                        "task": task,
                        "inputs": list(new),
                        "transcript_start": len(before.get("transcript", [])),
                        "status": "running",
                    }
                ],
                "artifacts": new,
                "turn": 0,
                "parse_failures": 0,
                "pending": [],
                "outcomes": [],
                "answer": None,
                "status": "running",
                "failure": None,
                "plan": None,
                "plan_results": None,
                "replans": 0,
                "pipeline": False,
            } | (extra or {})
            yield RunStarted(session=session, run_id=run_id, task=task, inputs=list(new))
            try:
                for event in drive(
                    self.graph,
                    run_input,
                    self.thread(session, steps_budget),
                    context,
                    session=session,
                    store=self.store,
                    controller=controller,
                    started=started,
                ):
                    if event.type == "end" and interrupted:
                        event.result.interrupted_runs = [interrupted]
                    yield event
            finally:
                context.pixels.close()

    def resume(
        self,
        session: str,
        controller: ChatModel,
        *,
        command: Command | None = None,
        deadline_s: float | None = None,
        steps_budget: int | None = None,
    ) -> Iterator[Any]:
        """Continue the session's unfinished run from its last checkpoint (or answer its approval)."""
        started = time.perf_counter()
        with self._session(session) as cancel:
            unfinished = self.unfinished(session)
            if unfinished is None:
                raise InputError(f"session {session!r} has no unfinished run to resume")
            budget = steps_budget or self.config.max_steps
            context = self._context(controller, budget, deadline_s, cancel)
            yield RunStarted(
                session=session, run_id=unfinished["run_id"], task=unfinished["task"], inputs=[], resumed=True
            )
            try:
                yield from drive(
                    self.graph,
                    command,
                    self.thread(session, budget),
                    context,
                    session=session,
                    store=self.store,
                    controller=controller,
                    started=started,
                )
            finally:
                context.pixels.close()

    def cancel(self, session: str) -> bool:
        """Ask the session's running run to stop; True if one was running."""
        with self._lock:
            event = self._active.get(session)
        if event is None:
            return False
        event.set()
        return True

    class _SessionGuard:
        def __init__(self, runner: Runner, session: str) -> None:
            self.runner, self.session, self.cancel = runner, session, threading.Event()

        def __enter__(self) -> threading.Event:
            with self.runner._lock:
                if self.session in self.runner._active:
                    raise InputError(
                        f"session {self.session!r} is already running a task in this orchestrator"
                    )
                self.runner._active[self.session] = self.cancel
            return self.cancel

        def __exit__(self, *exc: object) -> None:
            with self.runner._lock:
                self.runner._active.pop(self.session, None)

    def _session(self, session: str) -> Runner._SessionGuard:
        return Runner._SessionGuard(self, session)
