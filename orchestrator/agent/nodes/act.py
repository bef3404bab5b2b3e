"""act: validate the pending calls, run them on their Serve deployments concurrently, store outputs.

Every problem — an unknown tool, arguments that fail the expert's schema, an unknown
handle, a path where a handle belongs, an expert error or a timeout — becomes the call's
error text, which ``observe`` turns into an observation. Nothing here reads a file the
controller named: handles are resolved in the session's artifact table only.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, ValidationError

from experts.base import NewBoxes, NewImage, NewMask, NewText, PendingRef
from experts.deployment import WireRef, format_validation_error
from orchestrator.agent.context import RunContext
from orchestrator.agent.state import AgentState, Outcome, PendingCall
from orchestrator.serving.catalogue import DeployedExpert
from orchestrator.storage.artifacts import ArtifactRecord

__all__ = ["act"]


class CallRejected(Exception):
    """A call that cannot be sent; the message is the observation."""


def _to_wire(value: Any, table: dict[str, ArtifactRecord], ctx: RunContext, parents: list[str]) -> Any:
    if isinstance(value, PendingRef):
        record = table.get(value.handle)
        if record is None:
            known = ", ".join(sorted(table)) or "none"
            raise CallRejected(
                f"there is no artifact '{value.handle}' in this session; known handles: {known}"
            )
        if record["kind"] != value.kind:
            raise CallRejected(f"'{value.handle}' is a {record['kind']}, not a {value.kind}")
        if value.handle not in parents:
            parents.append(value.handle)
        return WireRef(value.handle, value.kind, ctx.pixels.ref(record))
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


def _store_outputs(value: Any, ctx: RunContext) -> Any:
    """Replace New* objects with plain artifact placeholders after storing their bytes."""
    if isinstance(value, (NewImage, NewMask)):
        kind = "image" if isinstance(value, NewImage) else "mask"
        artifact_id, shape, uri = ctx.store.put(kind, value.array)
        ctx.pixels.remember(artifact_id, value.array)
        summary: dict[str, Any] = {"size": shape}
        if isinstance(value, NewMask):
            ys, xs = value.array.nonzero()
            summary["area"] = len(xs)
            summary["bbox"] = (
                [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None
            )
            if value.score is not None:
                summary["score"] = round(float(value.score), 4)
        return {
            "__artifact__": {"kind": kind, "id": artifact_id, "shape": shape, "uri": uri, "summary": summary}
        }
    if isinstance(value, NewBoxes):
        artifact_id, shape, uri = ctx.store.put("boxes", value.items)
        summary = {"count": len(value.items), "items": value.items}
        return {
            "__artifact__": {
                "kind": "boxes",
                "id": artifact_id,
                "shape": shape,
                "uri": uri,
                "summary": summary,
            }
        }
    if isinstance(value, NewText):
        artifact_id, shape, uri = ctx.store.put("text", value.text)
        return {
            "__artifact__": {
                "kind": "text",
                "id": artifact_id,
                "shape": shape,
                "uri": uri,
                "summary": {"text": value.text},
            }
        }
    if isinstance(value, dict):
        return {k: _store_outputs(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_store_outputs(v, ctx) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def _outcome(call: PendingCall, started: float, **fields: Any) -> Outcome:
    outcome: Outcome = {
        "call": call,
        "ok": False,
        "output": None,
        "error": None,
        "parents": [],
        "replica": None,
        "started_at": started,
        "seconds": time.time() - started,
    }
    outcome.update(fields)  # type: ignore[typeddict-item]
    return outcome


def _wait(response: Any, expert: DeployedExpert, started: float, ctx: RunContext) -> tuple[Any, str | None]:
    """The call's envelope, or why there is none; checks cancellation and the deadline while waiting."""
    while True:
        left = expert.timeout_s - (time.time() - started)
        stop = ctx.stop_reason()
        if stop or left <= 0:
            response.cancel()
            if stop:
                return None, f"not finished: {stop}"
            timed_out = f"{expert.name} timed out after {expert.timeout_s:g} s"
            return None, f"{timed_out}; try a smaller input or another expert"
        try:
            return response.result(timeout_s=min(0.25, left)), None
        except TimeoutError:
            continue
        except Exception as err:  # replica died, Serve unavailable, …
            return None, f"{expert.name} could not be reached: {type(err).__name__}: {err}"


def _approved(calls: list[PendingCall], ctx: RunContext) -> tuple[list[PendingCall], list[Outcome]]:
    """Ask a person about the calls that need approval (pauses the run); the denied become errors."""
    needs = [c for c in calls if c["tool"] in ctx.approval]
    if not needs:
        return calls, []
    decision = interrupt({"calls": [{"tool": c["tool"], "arguments": c["arguments"]} for c in needs]})
    if isinstance(decision, dict) and decision.get("approved"):
        return calls, []
    reason = decision.get("reason") if isinstance(decision, dict) else None
    message = "a person denied this call" + (f": {reason}" if reason else "") + "; do not repeat it unchanged"
    denied = [_outcome(c, time.time(), error=message) for c in needs]
    return [c for c in calls if c not in needs], denied


def act(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run the pending calls: independent calls are in flight at the same time."""
    ctx = runtime.context
    earlier = list(state.get("outcomes") or [])  # e.g. plan steps whose references failed
    calls = list(state.get("pending", []))
    stop = ctx.stop_reason()
    if stop:
        skipped = [_outcome(c, time.time(), error=f"not run: {stop}") for c in calls]
        return {"outcomes": earlier + skipped, "pending": [], "status": "cancelled", "failure": stop}
    calls, denied = _approved(calls, ctx)
    in_flight: list[tuple[int, PendingCall, DeployedExpert, Any, list[str], float]] = []
    outcomes: list[Outcome | None] = [None] * len(calls)
    for i, call in enumerate(calls):
        started = time.time()
        try:
            expert, wire, parents = _prepare(call, state, ctx)
            response = expert.handle.remote(wire)
        except CallRejected as err:
            outcomes[i] = _outcome(call, started, error=str(err))
            continue
        runtime.stream_writer(
            {"tool": call["tool"], "arguments": call["arguments"], "plan_step": call.get("plan_step")}
        )
        in_flight.append((i, call, expert, response, parents, started))
    for i, call, expert, response, parents, started in in_flight:
        envelope, error = _wait(response, expert, started, ctx)
        if envelope is None:
            outcomes[i] = _outcome(call, started, parents=parents, error=error)
        elif envelope.get("ok"):
            outputs = _store_outputs(envelope["output"], ctx)
            outcomes[i] = _outcome(
                call, started, ok=True, parents=parents, replica=envelope.get("replica"), output=outputs
            )
        else:
            outcomes[i] = _outcome(
                call,
                started,
                parents=parents,
                replica=envelope.get("replica"),
                error=envelope.get("error") or f"{expert.name} failed",
            )
    update: dict[str, Any] = {
        "outcomes": earlier + denied + [o for o in outcomes if o is not None],
        "pending": [],
    }
    stop = ctx.stop_reason()
    if stop:
        update |= {"status": "cancelled", "failure": stop}
    return update
