"""Start, resume and stop runs of the graph for one orchestrator; the SDK's engine room."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from itertools import takewhile
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot

from llm.base import ChatModel
from orchestrator.agent.context import RunContext
from orchestrator.agent.execution import ArtifactViews, drive
from orchestrator.agent.failed_turn import end_failed_turn
from orchestrator.agent.handles import HandleAllocator
from orchestrator.agent.input_artifacts import TaskInput, store_inputs
from orchestrator.agent.pixels import PixelCache
from orchestrator.agent.recent import RecentStates
from orchestrator.agent.state import AgentState, RunLimits, seal
from orchestrator.config import ReactorConfig
from orchestrator.errors import InputError, StorageError
from orchestrator.events import RunStarted
from orchestrator.result import describe_artifact
from orchestrator.serving.catalogue import ExpertCatalogue
from orchestrator.storage.artifacts import ArtifactRecord, ArtifactStore
from orchestrator.storage.leases import HeldLease, InProcessLeases, LeaseKeeper
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
        leases: LeaseKeeper | None = None,
    ) -> None:
        self.graph = graph
        self.store = store
        self.catalogue = catalogue
        self.config = config
        self.leases = leases or LeaseKeeper(InProcessLeases(), where="this process")
        self._lock = threading.RLock()
        self._active: dict[str, threading.Event] = {}
        self._views = ArtifactViews(store)
        self._recent = RecentStates(graph.checkpointer)

    # -- session state ------------------------------------------------------------------------------
    @staticmethod
    def recursion_limit(steps_budget: int) -> int:
        """LangGraph's superstep limit for a run of ``steps_budget`` turns (or plan steps)."""
        return 6 * steps_budget + 60

    @staticmethod
    def thread(session: str, steps_budget: int = 8, recursion_limit: int | None = None) -> RunnableConfig:
        limit = recursion_limit or Runner.recursion_limit(steps_budget)
        return {"configurable": {"thread_id": session}, "recursion_limit": limit}

    def values(self, session: str) -> dict[str, Any]:
        """The session's current state (as its last run left it, when that is still the latest)."""
        thread = self.thread(session)
        kept = self._recent.get(session, thread)
        return dict(kept if kept is not None else self.graph.get_state(thread).values)

    def table(self, session: str) -> dict[str, ArtifactRecord]:
        return dict(self.values(session).get("artifacts", {}))

    def unfinished(self, session: str) -> dict[str, Any] | None:
        """The session's last run if it did not finish: its task, progress and whether it awaits approval."""
        return _unfinished(self.graph.get_state(self.thread(session)))

    def mark_interrupted(self, session: str, unfinished: dict[str, Any] | None) -> str | None:
        """Close ``unfinished`` (the session's :meth:`unfinished` run, if any) as interrupted, keeping it
        in the transcript; returns its run id."""
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
            seal(
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
                            "task": unfinished["task"],
                            "status": "interrupted",
                            "failure": "the process stopped during the run",
                        }
                    ],
                }
            ),
            as_node="finish",
        )
        return unfinished["run_id"]

    # -- runs ---------------------------------------------------------------------------------------
    def _context(self, controller: ChatModel, limits: RunLimits, cancel: threading.Event) -> RunContext:
        deadline_at = limits["deadline_at"]
        return RunContext(
            llm=controller,
            catalogue=self.catalogue,
            store=self.store,
            system_prompt=self.system_prompt(),
            max_steps=limits["max_steps"],
            max_parse_retries=self.config.max_parse_retries,
            pixels=PixelCache(self.store),
            max_replans=self.config.max_replans,
            context_budget_tokens=self.config.context_budget_tokens,
            max_image_pixels=self.config.max_image_pixels,
            approval=frozenset(self.config.approval_required),
            deadline=None if deadline_at is None else time.monotonic() + (deadline_at - time.time()),
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
        :mod:`~orchestrator.agent.input_artifacts`), then stream the run's events.

        The run's limits (``steps_budget``, the deadline, LangGraph's recursion limit) are
        checkpointed with it, so a resumed run keeps them.
        """
        started = time.perf_counter()
        with self._session(session) as cancel:
            head, before, interrupted = self._before_run(session)
            table: dict[str, ArtifactRecord] = before.get("artifacts", {})
            handles = HandleAllocator(before.get("handle_counts"), table)
            limits: RunLimits = {
                "max_steps": steps_budget,
                "recursion_limit": self.recursion_limit(steps_budget),
                "deadline_at": time.time() + deadline_s if deadline_s else None,
            }
            context = self._context(controller, limits, cancel)
            new = store_inputs(self.store, table, inputs, remember=context.pixels.remember)
            for handle in new:  # later handles of each kind come after the inputs' (named ones too)
                handles.note(handle)
            listing = "\n".join(describe_artifact(r) for r in new.values()) or "(none)"
            count = len(table) + len(new)
            message = render("task", task=task, artifacts=listing, count=count)
            run_id = uuid.uuid4().hex[:12]
            run_input: dict[str, Any] = {
                "run_id": run_id,
                "task": task,
                "transcript": [{"role": "user", "content": message}],
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
                "steps": [],  # every history channel is written once per run (see state.SNAPSHOT_EVERY)
                "limits": limits,
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
            run_input = seal(run_input)
            if new:
                run_input["handle_counts"] = handles.counts
            yield RunStarted(session=session, run_id=run_id, task=task, inputs=list(new))
            try:
                for event in drive(
                    self.graph,
                    run_input,
                    self.thread(session, recursion_limit=limits["recursion_limit"]),
                    context,
                    session=session,
                    views=self._views,
                    controller=controller,
                    started=started,
                    on_stopped=self._kept(session),
                ):
                    if event.type == "end" and interrupted:
                        event.result.interrupted_runs = [interrupted]
                    yield event
            except StorageError as err:  # mid-run: the run ends failed, the session keeps its past
                yield from end_failed_turn(
                    self.graph,
                    self.thread(session, recursion_limit=limits["recursion_limit"]),
                    err,
                    run_id=run_id,
                    task=task,
                    head=head,
                    before=before,
                    store=self.store,
                    controller=controller,
                    started=started,
                )
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
        """Continue the session's unfinished run from its last checkpoint (or answer its approval).

        The run keeps the limits it started with (its steps budget, deadline and recursion limit);
        ``steps_budget`` and ``deadline_s`` replace them. A run whose deadline has passed issues no
        more calls and ends as cancelled. Runs checkpointed before limits were kept take the config's
        ``max_steps`` and no deadline.
        """
        started = time.perf_counter()
        with self._session(session) as cancel:
            snapshot = self.graph.get_state(self.thread(session))
            unfinished = _unfinished(snapshot)
            if unfinished is None:
                raise InputError(f"session {session!r} has no unfinished run to resume")
            limits = self._resumed_limits(snapshot.values.get("limits"), steps_budget, deadline_s)
            context = self._context(controller, limits, cancel)
            yield RunStarted(
                session=session, run_id=unfinished["run_id"], task=unfinished["task"], inputs=[], resumed=True
            )
            try:
                yield from drive(
                    self.graph,
                    command,
                    self.thread(session, recursion_limit=limits["recursion_limit"]),
                    context,
                    session=session,
                    views=self._views,
                    controller=controller,
                    started=started,
                    on_stopped=self._kept(session),
                )
            except StorageError as err:  # mid-run: the run ends failed, the session keeps its past
                yield from end_failed_turn(
                    self.graph,
                    self.thread(session, recursion_limit=limits["recursion_limit"]),
                    err,
                    run_id=unfinished["run_id"],
                    task=unfinished["task"],
                    head=snapshot.config["configurable"].get("checkpoint_id"),
                    before=dict(snapshot.values),
                    store=self.store,
                    controller=controller,
                    started=started,
                )
            finally:
                context.pixels.close()

    def _kept(self, session: str) -> Callable[[str, dict[str, Any], bool], None]:
        """Where a run of ``session`` leaves the state it stopped at (see ``recent.py``)."""

        def keep(checkpoint_id: str, values: dict[str, Any], finished: bool) -> None:
            self._recent.keep(session, checkpoint_id, values, finished=finished)

        return keep

    def _before_run(self, session: str) -> tuple[str | None, dict[str, Any], str | None]:
        """The session's checkpoint id and state before a new run, and the id of the run it closed as
        interrupted."""
        thread = self.thread(session)
        kept = self._recent.latest(session, thread)
        if kept is not None:  # the state our last run of the session ended with is still the latest
            return kept[0], kept[1], None
        snapshot = self.graph.get_state(thread)
        interrupted = self.mark_interrupted(session, _unfinished(snapshot))
        if interrupted:  # the note and the run's end were added to the session
            snapshot = self.graph.get_state(thread)
        return snapshot.config["configurable"].get("checkpoint_id"), dict(snapshot.values), interrupted

    def _resumed_limits(
        self, stored: RunLimits | None, steps_budget: int | None, deadline_s: float | None
    ) -> RunLimits:
        """The limits of a resumed run: its own (``stored``), with the caller's replacements."""
        if steps_budget or not stored:
            max_steps = steps_budget or self.config.max_steps
            recursion = self.recursion_limit(max_steps)
        else:
            max_steps, recursion = stored["max_steps"], stored["recursion_limit"]
        deadline_at = time.time() + deadline_s if deadline_s else (stored["deadline_at"] if stored else None)
        return {"max_steps": max_steps, "recursion_limit": recursion, "deadline_at": deadline_at}

    def cancel(self, session: str) -> bool:
        """Ask the session's running run to stop; True if one was running."""
        with self._lock:
            event = self._active.get(session)
        if event is None:
            return False
        event.set()
        return True

    class _SessionGuard:
        """One run per session: within this orchestrator (cancellable), and across processes by the
        session's lease in the checkpoint database (taken first, renewed while the run lives)."""

        def __init__(self, runner: Runner, session: str) -> None:
            self.runner, self.session, self.cancel = runner, session, threading.Event()
            self.lease: HeldLease | None = None

        def __enter__(self) -> threading.Event:
            with self.runner._lock:
                if self.session in self.runner._active:
                    raise InputError(
                        f"session {self.session!r} is already running a task in this orchestrator"
                    )
                self.runner._active[self.session] = self.cancel
            try:
                self.lease = self.runner.leases.hold(self.session, on_lost=self.cancel.set)
            except BaseException:
                with self.runner._lock:
                    self.runner._active.pop(self.session, None)
                raise
            return self.cancel

        def __exit__(self, *exc: object) -> None:
            try:
                if self.lease is not None:
                    self.lease.release()
            finally:
                with self.runner._lock:
                    self.runner._active.pop(self.session, None)

    def _session(self, session: str) -> Runner._SessionGuard:
        return Runner._SessionGuard(self, session)


def _unfinished(snapshot: StateSnapshot) -> dict[str, Any] | None:
    """The run a state snapshot shows unfinished (see :meth:`Runner.unfinished`), or None."""
    # A process that stopped right after storing a run's input leaves only a pending __start__
    # task (the values already show that run): it is that run which is unfinished.
    following = list(snapshot.next) or [task.name for task in snapshot.tasks]
    if not following:
        return None
    values = snapshot.values
    run_id = values.get("run_id")
    return {
        "run_id": run_id,
        "task": values.get("task"),
        "turn": values.get("turn", 0),
        "steps": sum(
            1 for _ in takewhile(lambda s: s["run_id"] == run_id, reversed(values.get("steps", [])))
        ),
        "next": following,
        "awaiting_approval": bool(snapshot.interrupts),
    }
