"""Tasks of the service: run in the ingress replica's worker threads, recorded where every replica sees them.

A task's events go to the task store as they happen (any replica streams them; this one wakes its
own listeners at once, others poll); its Result is stored before its last event, so a client that
saw the end always finds the result. Cancel requests made through another replica reach the worker
through the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from llm.base import ChatModel
from orchestrator.errors import InputError
from orchestrator.events import ErrorEvent, Event, RunFinished
from orchestrator.sdk import Orchestrator
from orchestrator.service.limits import ApiError
from orchestrator.service.metrics import ServiceMetrics
from orchestrator.service.taskstore import ACTIVE, FINAL, TaskStore
from orchestrator.service.views import artifact_grants, failed_result, public_event, public_result

__all__ = ["Notifier", "Submission", "TaskManager"]

log = logging.getLogger(__name__)


@dataclass
class Submission:
    """A task request that passed the upload checks: what to run, for whom."""

    owner: str
    task: str | None
    images: list[bytes] = field(default_factory=list)
    videos: list[bytes] = field(default_factory=list)
    inputs: dict[str, Any] | None = None
    session: str | None = None
    max_steps: int | None = None
    deadline_s: float | None = None
    plan: Any = None


class Notifier:
    """Wakes the coroutines that follow a task (on any event loop) when a worker thread adds an event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def watch(self, task_id: str) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.setdefault(task_id, set()).add(entry)
        return entry

    def unwatch(self, task_id: str, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            waiters = self._waiters.get(task_id, set())
            waiters.discard(entry)
            if not waiters:
                self._waiters.pop(task_id, None)

    def notify(self, task_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(task_id, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)


class TaskManager:
    """Submits, runs, follows, cancels and continues tasks on one orchestrator (one ingress replica)."""

    POLL_S = 0.25
    """How often a follower re-reads the store when the task runs in another replica."""

    def __init__(
        self,
        orch: Orchestrator,
        store: TaskStore,
        controller: Callable[[], ChatModel],
        *,
        workers: int,
        max_tasks_per_key: int,
        metrics: ServiceMetrics,
        replica: str | None = None,
    ) -> None:
        self.orch = orch
        self.store = store
        self.controller = controller
        self.max_tasks_per_key = max_tasks_per_key
        self.metrics = metrics
        self.replica = replica or uuid.uuid4().hex[:12]
        self.notifier = Notifier()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mmr-task")
        self._running: dict[str, str] = {}  # task id -> session, for the tasks this replica runs
        self._controllers: dict[str, ChatModel] = {}  # a task's controller, kept while it waits for approval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch_cancels, name="mmr-cancels", daemon=True)
        self._watcher.start()

    # -- submitting -----------------------------------------------------------------------------------
    def submit(self, sub: Submission) -> dict[str, Any]:
        """Check and queue a task; its record (``task_id``, ``session``, ``status``). Raises ApiError."""
        if self.store.count_active(owner=sub.owner) >= self.max_tasks_per_key:
            raise ApiError(
                429,
                f"this API key already has {self.max_tasks_per_key} tasks queued or running "
                "(service.max_tasks_per_key); wait for one to finish",
                {"Retry-After": "2"},
            )
        session = sub.session or uuid.uuid4().hex
        owner = self.store.session_owner(session)
        if owner is not None and owner != sub.owner:
            raise ApiError(404, f"no session {session!r}")
        if owner is not None and self.store.count_active(session=session):
            raise ApiError(409, f"session {session!r} is running a task; wait for it to end or cancel it")
        controller = None
        try:
            if sub.plan is not None:
                kind, text = "plan", sub.task or "run the given plan"
                events = self.orch.stream_plan(
                    sub.plan, sub.images, videos=sub.videos, inputs=sub.inputs, session=session, task=text
                )
            else:
                kind, text, controller = "task", sub.task or "", self.controller()
                events = self.orch.stream(
                    text,
                    sub.images,
                    videos=sub.videos,
                    inputs=sub.inputs,
                    session=session,
                    max_steps=sub.max_steps,
                    deadline_s=sub.deadline_s,
                    chat_model=controller,
                )
        except InputError as err:
            raise ApiError(422, str(err)) from None
        if not self.store.claim_session(session, sub.owner):
            raise ApiError(404, f"no session {session!r}")
        task_id = uuid.uuid4().hex
        self.store.create_task(task_id, sub.owner, session, kind, text, self.replica)
        if controller is not None:
            with self._lock:
                self._controllers[task_id] = controller
        self._pool.submit(self._work, task_id, session, text, events, 0)
        return {"task_id": task_id, "session": session, "status": "queued"}

    def owned(self, owner: str, task_id: str) -> dict[str, Any]:
        """The task's record if ``owner`` made it; 404 otherwise (another key's task does not exist)."""
        record = self.store.task(task_id) if len(task_id) <= 64 else None
        if record is None or record["owner"] != owner:
            raise ApiError(404, f"no task {task_id!r}")
        return record

    def decide(self, owner: str, task_id: str, approved: bool, reason: str | None) -> dict[str, Any]:
        """Approve or deny the calls a pending task waits for; the task runs on, with the same id."""
        record = self.owned(owner, task_id)
        if record["status"] != "pending":
            raise ApiError(409, f"task {task_id} is {record['status']}, not waiting for approval")
        with self._lock:  # a replayed controller goes on with its script (in the replica that ran it)
            controller = self._controllers.get(task_id) or self.controller()
        try:
            events = self.orch.stream_decision(
                record["session"], approved, reason=reason, chat_model=controller
            )
        except InputError as err:
            raise ApiError(409, str(err)) from None
        if not self.store.set_status(task_id, "queued", replica=self.replica, expect="pending"):
            raise ApiError(409, f"task {task_id} was already approved or denied")
        self._pool.submit(self._work, task_id, record["session"], record["task"], events, record["last_seq"])
        return {
            "task_id": task_id,
            "session": record["session"],
            "status": "queued",
            "after": record["last_seq"],
        }

    def cancel(self, owner: str, task_id: str) -> dict[str, Any]:
        """Ask a queued or running task to stop (wherever it runs); it ends ``cancelled``."""
        record = self.owned(owner, task_id)
        if record["status"] not in ACTIVE:
            return {"task_id": task_id, "status": record["status"], "cancelled": False}
        self.store.request_cancel(task_id)
        with self._lock:
            session = self._running.get(task_id)
        if session is not None:
            self.orch.cancel(session)
        return {"task_id": task_id, "status": record["status"], "cancelled": True}

    # -- running --------------------------------------------------------------------------------------
    def _work(self, task_id: str, session: str, text: str, events: Iterator[Event], seq: int) -> None:
        with self._lock:
            self._running[task_id] = session
        self.metrics.running.inc()
        self.store.set_status(task_id, "running", replica=self.replica)
        finished, first, status = False, True, "failed"
        try:
            for event in events:
                seq += 1
                if event.type == "end":
                    self._finish(task_id, seq, event)
                    finished, status = True, event.result.status
                else:
                    self._emit(task_id, seq, event)
                    if first and self.store.cancel_requests([task_id]):
                        self.orch.cancel(session)  # cancelled while it was queued
                    first = False
        except Exception as err:  # a bug or a refusal after queueing: the task still ends, with why
            if not isinstance(err, InputError):
                log.exception("task %s failed", task_id)
            message = str(err) if isinstance(err, InputError) else f"the service failed: {err}"
            seq += 1
            self._emit(task_id, seq, ErrorEvent(message=message, fatal=True))
            seq += 1
            self._finish(task_id, seq, RunFinished(result=failed_result(session, text, message)))
            finished = True
        finally:
            with self._lock:
                self._running.pop(task_id, None)
                if status != "pending":
                    self._controllers.pop(task_id, None)
            self.metrics.running.dec()
            if not finished:  # the run's stream stopped without an end: record a failure
                self.store.finish(task_id, "failed", public_result(failed_result(session, text, "no result")))
                self.notifier.notify(task_id)

    def _emit(self, task_id: str, seq: int, event: Event) -> None:
        self.store.add_event(task_id, seq, event.type, public_event(event))
        self.metrics.observe(event)
        self.notifier.notify(task_id)

    def _finish(self, task_id: str, seq: int, event: RunFinished) -> None:
        result = event.result
        self.store.grant_artifacts(result.session, artifact_grants(result.artifacts))
        self.store.finish(task_id, result.status, public_result(result), last_seq=seq)
        self._emit(task_id, seq, event)

    def _watch_cancels(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                running = dict(self._running)
            try:
                for task_id in self.store.cancel_requests(list(running)):
                    self.orch.cancel(running[task_id])
            except Exception as err:  # the database is away for a moment: try again next time
                log.warning("could not read cancel requests: %s", err)

    # -- following ------------------------------------------------------------------------------------
    async def follow(self, task_id: str, after: int = 0) -> AsyncIterator[tuple[int, str, str]]:
        """(seq, type, JSON) of the task's events after ``after``, as they come, until its ``end``."""
        entry = self.notifier.watch(task_id)
        try:
            while True:
                entry[1].clear()
                rows = await run_in_threadpool(self.store.events, task_id, after)
                for row in rows:
                    yield row
                    after = row[0]
                if rows and rows[-1][1] == "end":
                    return
                if not rows:
                    record = await run_in_threadpool(self.store.task, task_id)
                    if record is None or (record["status"] in FINAL and record["last_seq"] <= after):
                        return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(entry[1].wait(), timeout=self.POLL_S)
        finally:
            self.notifier.unwatch(task_id, entry)

    def close(self) -> None:
        """Stop taking tasks; wait for the running ones to end."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
