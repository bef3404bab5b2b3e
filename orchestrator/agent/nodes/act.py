"""act: validate the pending calls, run them on their Serve deployments concurrently, take the outputs.

Every problem — an unknown tool, arguments that fail the expert's schema, an unknown handle, a path
where a handle belongs, an expert error or a timeout — becomes the call's error (with its kind), which
``observe`` turns into an observation. Nothing here reads a file the controller named: handles are
resolved in the session's artifact table only. Replies are read through :class:`~experts.protocol.Reply`
only; new pixels stay in Ray's object store for the next call, and the run's writer saves them.

A call whose replica dies before it answers is sent once more, to a live replica, when the expert
says the call is idempotent (``Expert.is_idempotent_call``); the step records its ``attempts``. A
timed-out call is cancelled, which reaches the replica's coroutine (the replica frees itself from
work that does not stop: ``experts/_replica_work.py``). Process ids and node addresses from Ray's
errors go to the step's trace and the log, never into the observation; every text kept is redacted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, ValidationError

from experts.base import PendingRef
from experts.protocol import PixelRef, Reply, format_validation_error
from orchestrator.agent.context import RunContext
from orchestrator.agent.pixels import describe_failures
from orchestrator.agent.state import AgentState, Outcome, PendingCall, Produced, StepErrorKind
from orchestrator.serving.calls import replica_lost, unreachable
from orchestrator.serving.catalogue import DeployedExpert
from orchestrator.storage.artifacts import ArtifactRecord, artifact_uri
from redaction import redact, redact_data

__all__ = ["act"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _NoReply:
    """Why a call has no reply: ``message`` for the controller, ``detail`` (Ray's own words) for the trace."""

    kind: StepErrorKind
    message: str
    detail: str | None = None
    lost_replica: bool = False


class _TooLarge(Exception):
    """An expert made an image or mask over the pixel cap."""


class CallRejected(Exception):
    """A call that cannot be sent; the message is the observation."""

    def __init__(self, message: str, kind: StepErrorKind = "arguments") -> None:
        super().__init__(message)
        self.kind: StepErrorKind = kind


def _pixels(ref: PendingRef, table: dict[str, ArtifactRecord], ctx: RunContext) -> PixelRef:
    record = table.get(ref.handle)
    if record is None:
        known = ", ".join(sorted(table)) or "none"
        raise CallRejected(f"there is no artifact '{ref.handle}' in this session; known handles: {known}")
    if record["kind"] != ref.kind:
        raise CallRejected(f"'{ref.handle}' is a {record['kind']}, not a {ref.kind}")
    try:
        pixels = ctx.pixels.ref(record)
    except Exception as err:  # bytes missing from the store, or never written
        raise CallRejected(f"the pixels of {ref.handle} cannot be read: {err}", "resource") from None
    return PixelRef(ref.handle, ref.kind, record["id"], pixels)


def _to_wire(value: Any, table: dict[str, ArtifactRecord], ctx: RunContext, parents: list[str]) -> Any:
    if isinstance(value, PendingRef):
        if value.handle not in parents:
            parents.append(value.handle)
        return _pixels(value, table, ctx)
    if isinstance(value, BaseModel):
        return {
            name: _to_wire(getattr(value, name), table, ctx, parents) for name in type(value).model_fields
        }
    if isinstance(value, dict):
        return {k: _to_wire(v, table, ctx, parents) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_wire(v, table, ctx, parents) for v in value]
    return value


def _prepare(call: PendingCall, state: AgentState, ctx: RunContext) -> tuple[DeployedExpert, dict, list[str]]:
    expert = ctx.catalogue.get(call["tool"])
    if expert is None:
        raise CallRejected(
            f"there is no expert '{call['tool']}'; available: {', '.join(ctx.catalogue.names())}"
        )
    if not isinstance(call["arguments"], dict):
        raise CallRejected("Action Input must be a JSON object of the expert's arguments")
    try:
        validated = expert.expert_cls.Input.model_validate(call["arguments"])
    except ValidationError as err:
        raise CallRejected(format_validation_error(expert.name, err)) from None
    parents: list[str] = []
    wire = _to_wire(validated, state.get("artifacts", {}), ctx, parents)
    return expert, wire, parents


def _check_sizes(reply: Reply, tool: str, cap: int | None) -> None:
    """Images and masks made by experts obey the pixel cap of input images (``max_image_pixels``)."""
    for new in reply.artifacts:
        if cap is not None and new.kind in ("image", "mask") and new.shape[0] * new.shape[1] > cap:
            width, height = new.shape
            raise _TooLarge(
                f"{tool} made a {width}x{height} {new.kind} ({width * height} pixels), over the limit of "
                f"{cap} pixels (max_image_pixels); ask for a smaller size"
            )


def _take(reply: Reply, ctx: RunContext) -> list[Produced]:
    """Records of the reply's new artifacts: pixels are adopted where they are (and saved in the
    background), boxes and texts are stored now."""
    produced: list[Produced] = []
    for new in reply.artifacts:
        if new.content_id is not None and new.ref is not None:
            ctx.pixels.adopt(new.kind, new.content_id, new.ref)
            artifact_id, shape, uri = new.content_id, new.shape, artifact_uri(new.kind, new.content_id)
        else:
            artifact_id, shape, uri = ctx.store.put(new.kind, new.value)
        produced.append(
            {
                "path": list(new.path),
                "kind": new.kind,
                "id": artifact_id,
                "shape": shape,
                "uri": uri,
                "summary": new.summary,
            }
        )
    return produced


def _outcome(call: PendingCall, started: float, **fields: Any) -> Outcome:
    outcome: Outcome = {
        "call": call,
        "ok": False,
        "output": None,
        "artifacts": [],
        "error": None,
        "error_type": None,
        "traceback": None,
        "parents": [],
        "replica": None,
        "started_at": started,
        "seconds": time.time() - started,
        "attempts": 1,
    }
    outcome.update(fields)  # type: ignore[typeddict-item]
    # error texts may quote an endpoint's reply, headers and all
    outcome["error"] = redact(outcome["error"]) if outcome["error"] else outcome["error"]
    outcome["traceback"] = redact(outcome["traceback"]) if outcome["traceback"] else outcome["traceback"]
    outcome["output"] = redact_data(outcome["output"])
    return outcome


def _wait(response: Any, expert: DeployedExpert, since: float, ctx: RunContext) -> Reply | _NoReply:
    """The call's reply, or why there is none; checks cancellation and the deadline while waiting.

    A call not answered within the expert's ``timeout_s`` (from ``since``) is cancelled: Serve
    cancels the replica's coroutine, so the replica no longer counts it as its work.
    """
    while True:
        left = expert.timeout_s - (time.time() - since)
        stop = ctx.stop_reason()
        if stop or left <= 0:
            response.cancel()
            if stop:
                return _NoReply("cancelled", f"not finished: {stop}")
            timed_out = f"{expert.name} timed out after {expert.timeout_s:g} s"
            return _NoReply("timeout", f"{timed_out}; try a smaller input or another expert")
        try:
            answer = response.result(timeout_s=min(0.25, left))
        except TimeoutError:
            continue
        except Exception as err:  # replica died, Serve unavailable, …
            detail = f"{type(err).__name__}: {err}"
            return _NoReply("resource", unreachable(expert.name, err), detail, replica_lost(err))
        try:
            return Reply.model_validate(answer)
        except ValidationError:
            return _NoReply("expert", f"{expert.name} answered with a {type(answer).__name__}, not a Reply")


def _send(call: PendingCall, state: AgentState, ctx: RunContext) -> tuple[DeployedExpert, Any, list[str]]:
    expert, wire, parents = _prepare(call, state, ctx)
    return expert, expert.handle.remote(wire, inline=ctx.pixels.inline), parents


def _send_again(call: PendingCall, reply: Reply | _NoReply, expert: DeployedExpert) -> bool:
    """Whether a call gets a second attempt: its input pixels were lost from the object store (the
    replica that made them stopped; they are read from the store again), or its replica died before
    answering and the call is idempotent."""
    if isinstance(reply, Reply):
        return reply.error is not None and bool(reply.error.lost)
    return reply.lost_replica and expert.expert_cls.is_idempotent_call(call["arguments"])


def _collect(
    call: PendingCall,
    state: AgentState,
    ctx: RunContext,
    sent: tuple[DeployedExpert, Any, list[str]],
    started: float,
) -> Outcome:
    """The outcome of one call in flight, sent once more where :func:`_send_again` says so."""
    expert, response, parents = sent
    reply = _wait(response, expert, started, ctx)
    attempts = 1
    if _send_again(call, reply, expert):
        if isinstance(reply, Reply):
            for artifact_id in reply.error.lost if reply.error else []:
                ctx.pixels.forget(artifact_id)
        else:
            log.warning("%s: %s; sending the call again", expert.name, reply.detail)
        try:
            expert, response, parents = _send(call, state, ctx)
        except CallRejected as err:
            return _outcome(call, started, parents=parents, error=str(err), error_type=err.kind, attempts=2)
        attempts = 2
        reply = _wait(response, expert, time.time(), ctx)
    if isinstance(reply, _NoReply):
        if reply.detail:
            log.warning("%s: no reply (%s)", expert.name, reply.detail)
        message = reply.message
        if reply.lost_replica:
            message += (
                "; it was sent twice"
                if attempts > 1
                else "; it was not sent again (the call is not repeatable): call it again if you need it"
            )
        return _outcome(
            call,
            started,
            parents=parents,
            error=message,
            error_type=reply.kind,
            traceback=reply.detail,
            attempts=attempts,
        )
    if reply.error is not None:
        return _outcome(
            call,
            started,
            parents=parents,
            replica=reply.replica,
            error=reply.error.message,
            error_type=reply.error.kind,
            traceback=reply.error.traceback,
            attempts=attempts,
        )
    try:
        _check_sizes(reply, expert.name, ctx.max_image_pixels)
    except _TooLarge as err:
        return _outcome(
            call,
            started,
            parents=parents,
            replica=reply.replica,
            error=str(err),
            error_type="input",
            attempts=attempts,
        )
    return _outcome(
        call,
        started,
        ok=True,
        parents=parents,
        replica=reply.replica,
        output=reply.output,
        artifacts=_take(reply, ctx),
        attempts=attempts,
    )


def _approved(
    calls: list[PendingCall], state: AgentState, ctx: RunContext
) -> tuple[list[PendingCall], list[Outcome]]:
    """Ask a person about the calls that need approval (pauses the run); the denied become errors.

    Before the run pauses (perhaps for good in this process), every artifact so far is saved.
    """
    needs = [c for c in calls if c["tool"] in ctx.approval]
    if not needs:
        return calls, []
    failures = ctx.pixels.writer.flush()
    if failures:
        raise WritesFailed(describe_failures(failures, state.get("artifacts", {})))
    decision = interrupt({"calls": [{"tool": c["tool"], "arguments": c["arguments"]} for c in needs]})
    if isinstance(decision, dict) and decision.get("approved"):
        return calls, []
    reason = decision.get("reason") if isinstance(decision, dict) else None
    message = "a person denied this call" + (f": {reason}" if reason else "") + "; do not repeat it unchanged"
    denied = [_outcome(c, time.time(), error=message, error_type="denied") for c in needs]
    return [c for c in calls if c not in needs], denied


class WritesFailed(Exception):
    """Artifacts made earlier in the run could not be saved; the run cannot pause with them missing."""


def act(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run the pending calls: independent calls are in flight at the same time."""
    ctx = runtime.context
    earlier = list(state.get("outcomes") or [])  # e.g. plan steps whose references failed
    calls = list(state.get("pending", []))
    stop = ctx.stop_reason()
    if stop:
        skipped = [_outcome(c, time.time(), error=f"not run: {stop}", error_type="cancelled") for c in calls]
        return {"outcomes": earlier + skipped, "pending": [], "status": "cancelled", "failure": stop}
    try:
        calls, denied = _approved(calls, state, ctx)
    except WritesFailed as err:
        return {"pending": [], "status": "failed", "failure": str(err)}
    in_flight: list[tuple[int, PendingCall, tuple[DeployedExpert, Any, list[str]], float]] = []
    outcomes: list[Outcome | None] = [None] * len(calls)
    for i, call in enumerate(calls):
        started = time.time()
        try:
            sent = _send(call, state, ctx)
        except CallRejected as err:
            outcomes[i] = _outcome(call, started, error=str(err), error_type=err.kind)
            continue
        runtime.stream_writer(
            {"tool": call["tool"], "arguments": call["arguments"], "plan_step": call.get("plan_step")}
        )
        in_flight.append((i, call, sent, started))
    for i, call, sent, started in in_flight:
        outcomes[i] = _collect(call, state, ctx, sent, started)
    update: dict[str, Any] = {
        "outcomes": earlier + denied + [o for o in outcomes if o is not None],
        "pending": [],
    }
    stop = ctx.stop_reason()
    if stop:
        update |= {"status": "cancelled", "failure": stop}
    return update
