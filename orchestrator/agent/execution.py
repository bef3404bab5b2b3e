"""Drive one run of the graph and turn LangGraph's stream into typed events and a Result."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from llm.base import ChatModel
from orchestrator.agent.context import RunContext
from orchestrator.agent.run_failure import record_failure
from orchestrator.agent.state import AgentState
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
from orchestrator.result import Result
from orchestrator.storage.artifacts import ArtifactStore

__all__ = ["drive"]


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
    store: ArtifactStore,
    controller: ChatModel,
    started: float,
) -> Iterator[Any]:
    """Run (or resume) the graph; yield events as nodes finish, then the run's Result."""
    given = graph_input.get("plan") if isinstance(graph_input, dict) else None
    plans: list[list[dict[str, Any]]] = [given] if given else []  # each plan the run accepts (Result.plans)
    try:
        for mode, chunk in graph.stream(
            graph_input, thread, context=context, stream_mode=["updates", "custom"], durability="sync"
        ):
            if mode == "custom":
                yield ToolStarted.model_validate(chunk)
                continue
            assert isinstance(chunk, dict)
            for node, update in chunk.items():
                if node == "__interrupt__":
                    yield ApprovalRequested(session=session, calls=update[0].value["calls"])
                elif isinstance(update, dict):
                    if node == "think" and update.get("plan"):
                        plans.append(update["plan"])
                    yield from _events_of(node, update)
    except Exception as err:  # a bug or fault escaped the graph: the run ends as a recorded failure
        record_failure(graph, thread, graph_input, err)
    snapshot = graph.get_state(thread)
    result = Result.from_state(
        snapshot.values,
        session=session,
        store=store,
        controller=controller.label,
        replay=controller.is_replay,
        seconds=time.perf_counter() - started,
        pending=bool(snapshot.interrupts),
        plans=plans,
    )
    if result.status == "answered" and result.answer:
        yield AnswerEvent(text=result.answer)
    elif result.status in ("failed", "cancelled"):
        yield ErrorEvent(message=result.failure or result.status, fatal=True)
    yield RunFinished(result=result)
