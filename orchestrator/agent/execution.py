"""Drive one run of the graph and turn LangGraph's stream into typed events and a Result."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from llm.base import ChatModel
from orchestrator.agent.context import RunContext
from orchestrator.agent.run_failure import record_failure
from orchestrator.agent.state import AgentState
from orchestrator.errors import StorageError
from orchestrator.events import (
    AnswerEvent,
    ApprovalRequested,
    ErrorEvent,
    PlanAccepted,
    RunFinished,
    ThoughtEvent,
    ToolFinished,
    ToolStarted,
)
from orchestrator.result import ArtifactInfo, Result
from orchestrator.storage.artifacts import ArtifactRecord, ArtifactStore

__all__ = ["ArtifactViews", "drive"]


class ArtifactViews:
    """Each artifact record's public view (:class:`ArtifactInfo`), made once and reused by later runs.

    A Result lists every artifact of its session; remaking each view at the end of every run would
    cost more as the session grows. Views are immutable, so they are shared; a view is reused for a
    record equal to the one it was made from. The least recently used are dropped beyond ``size``.
    """

    def __init__(self, store: ArtifactStore, size: int = 50_000) -> None:
        self.store, self.size = store, size
        self._views: OrderedDict[tuple[str, str], tuple[ArtifactRecord, ArtifactInfo]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, record: ArtifactRecord) -> ArtifactInfo:
        key = (record["handle"], record["id"])
        with self._lock:
            kept = self._views.get(key)
            if kept is not None and (kept[0] is record or kept[0] == record):
                self._views.move_to_end(key)
                return kept[1]
        view = ArtifactInfo.from_record(record, self.store)
        with self._lock:
            self._views[key] = (record, view)
            while len(self._views) > self.size:
                self._views.popitem(last=False)
        return view


def _events_of(node: str, update: dict[str, Any]) -> Iterator[Any]:
    if node == "think":
        for step in update.get("steps", []):
            if step["error"]:
                yield ErrorEvent(message=step["error"], fatal=False)
            elif update.get("plan"):
                yield PlanAccepted(steps=update["plan"], repairs=step.get("repairs", []))
        if update.get("pending"):
            first = update["pending"][0]
            calls = [{"tool": c["tool"], "arguments": c["arguments"]} for c in update["pending"]]
            yield ThoughtEvent(
                turn=update.get("turn", 0),
                text=first["thought"],
                actions=calls,
                repairs=first.get("repairs", []),
            )
    elif node == "observe":
        for step in update.get("steps", []):
            yield ToolFinished(
                tool=step["tool"],
                seconds=step["seconds"],
                replica=step["replica"],
                error=step["error"],
                error_type=step.get("error_type"),
                new_handles=step["new_handles"],
                observation=step["observation"],
            )


def drive(
    graph: CompiledStateGraph[AgentState, RunContext, AgentState, AgentState],
    graph_input: Any,
    thread: RunnableConfig,
    context: RunContext,
    *,
    session: str,
    views: ArtifactViews,
    controller: ChatModel,
    started: float,
    on_stopped: Callable[[str, dict[str, Any], bool], None] | None = None,
) -> Iterator[Any]:
    """Run (or resume) the graph; yield events as nodes finish, then the run's Result.

    The Result is read from the last checkpoint the stream reports, not read back from the
    checkpointer (reading a long session back replays its history). ``on_stopped`` gets that
    checkpoint's id, its state and whether the run finished (else it waits for approval).
    """
    given = graph_input.get("plan") if isinstance(graph_input, dict) else None
    plans: list[list[dict[str, Any]]] = [given] if given else []  # each plan the run accepts (Result.plans)
    last: dict[str, Any] | None = None  # the last checkpoint: config, values, next
    pending = False
    try:
        for mode, chunk in graph.stream(
            graph_input,
            thread,
            context=context,
            stream_mode=["updates", "custom", "checkpoints"],
            durability="sync",
        ):
            if mode == "custom":
                yield ToolStarted.model_validate(chunk)
                continue
            assert isinstance(chunk, dict)
            if mode == "checkpoints":
                last = chunk
                continue
            for node, update in chunk.items():
                if node == "__interrupt__":
                    pending = True
                    yield ApprovalRequested(session=session, calls=update[0].value["calls"])
                elif isinstance(update, dict):
                    if node == "think" and update.get("plan"):
                        plans.append(update["plan"])
                    yield from _events_of(node, update)
    except StorageError:
        raise  # the storage itself failed: the runner settles the turn (failed_turn.py)
    except Exception as err:  # a bug or fault escaped the graph: the run ends as a recorded failure
        record_failure(graph, thread, graph_input, err)
        last = None
    if last is None:  # nothing ran (a resume with nothing left to do): read the checkpoint
        snapshot = graph.get_state(thread)
        values, pending = dict(snapshot.values), bool(snapshot.interrupts)
    else:
        values = last["values"]
        if on_stopped is not None:
            on_stopped(str(last["config"]["configurable"]["checkpoint_id"]), values, not last["next"])
    result = Result.from_state(
        values,
        session=session,
        store=views.store,
        controller=controller.label,
        replay=controller.is_replay,
        seconds=time.perf_counter() - started,
        pending=pending,
        plans=plans,
        artifact_info=views,
    )
    if result.status == "answered" and result.answer:
        yield AnswerEvent(text=result.answer)
    elif result.status in ("failed", "cancelled"):
        yield ErrorEvent(message=result.failure or result.status, fatal=True)
    yield RunFinished(result=result)
