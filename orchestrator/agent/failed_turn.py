"""A turn that storage failed mid-run: it ends as a failed Result, and its session keeps its past.

The checkpoint write that failed may have followed others of the same turn (the turn's input, its
first steps). The session must not show an earlier, finished task as unfinished, nor lose the
failed one. In order, as far as the storage lets:

1. record the turn as failed on top of what it wrote (what it made before the failure is kept);
2. else take the session back to the checkpoint it was at when the turn began (deleting frees
   space on a full database) and record the failure there;
3. else (the store takes no write at all) leave it: the session then shows this turn -- never an
   earlier one -- as unfinished, to be resumed or recorded as interrupted by the next task.

A run that lost its session's lease to another process writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from llm.base import ChatModel
from orchestrator.agent.state import seal
from orchestrator.errors import StorageError
from orchestrator.events import ErrorEvent, RunFinished
from orchestrator.result import Result
from orchestrator.storage.artifacts import ArtifactStore
from orchestrator.storage.guarded import GuardedSaver
from orchestrator.storage.leases import LeaseLost
from orchestrator.storage.rollback import roll_back
from prompts import render

__all__ = ["end_failed_turn"]

log = logging.getLogger(__name__)

Graph = CompiledStateGraph[Any, Any, Any, Any]


def _record(graph: Graph, thread: RunnableConfig, update: dict[str, Any]) -> bool:
    try:
        graph.update_state(thread, seal(update), as_node="finish")
    except StorageError as err:
        log.warning("could not record the failed turn: %s", err)
        return False
    return True


def _settle(
    graph: Graph, thread: RunnableConfig, error: StorageError, head: str | None, update: dict[str, Any]
) -> str:
    """Leave the session consistent (see the module's steps); what became of the turn, in words."""
    if isinstance(error, LeaseLost):
        return ""
    if _record(graph, thread, update):
        return "The turn is recorded in the session as failed; what it made before the failure is kept."
    saver = graph.checkpointer
    inner = saver.inner if isinstance(saver, GuardedSaver) else saver
    if isinstance(inner, bool) or inner is None:
        return ""
    if roll_back(inner, thread["configurable"]["thread_id"], head):
        if _record(graph, thread, update):
            return "The session was taken back to where it was before this turn, which is recorded as failed."
        return "The session was taken back to exactly where it was before this turn."
    return (
        "The turn could not be recorded: the session shows it as unfinished until resume() finishes it "
        "or the next task records it as interrupted."
    )


def end_failed_turn(
    graph: Graph,
    thread: RunnableConfig,
    error: StorageError,
    *,
    run_id: str,
    task: str,
    head: str | None,
    before: dict[str, Any],
    store: ArtifactStore,
    controller: ChatModel,
    started: float,
) -> Iterator[Any]:
    """Settle the session after ``error`` ended run ``run_id`` (``head``: the checkpoint it began at;
    ``before``: the session's values then) and yield the run's last events: the error, and its Result."""
    reason = f"storage failed while running the task {task!r}: {error.cause or error}"
    update: dict[str, Any] = {
        "run_id": run_id,
        "task": task,
        "status": "failed",
        "failure": str(error),
        "answer": None,
        "pending": [],
        "outcomes": [],
        "plan": None,
        "transcript": [{"role": "user", "content": render("failure", reason=reason)}],
        "runs": [{"run_id": run_id, "task": task, "status": "failed", "failure": str(error)}],
    }
    outcome = _settle(graph, thread, error, head, update)
    try:
        values = dict(graph.get_state(thread).values)
    except StorageError:
        values = dict(before)
    if values.get("run_id") != run_id:  # nothing of the turn is in the session
        values = {**values, **{k: v for k, v in update.items() if k not in ("transcript", "runs")}}
    result = Result.from_state(
        values,
        session=str(thread["configurable"]["thread_id"]),
        store=store,
        controller=controller.label,
        replay=controller.is_replay,
        seconds=time.perf_counter() - started,
    )
    result.status, result.answer = "failed", None
    result.failure = f"{error} {outcome}".strip()
    yield ErrorEvent(message=result.failure, fatal=True)
    yield RunFinished(result=result)
