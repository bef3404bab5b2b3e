"""observe: register new artifacts under handles, and write one observation per call."""

from __future__ import annotations

import json
from typing import Any

from langgraph.runtime import Runtime

from orchestrator.agent.context import RunContext
from orchestrator.agent.handles import HandleAllocator
from orchestrator.agent.plan_map import record_result
from orchestrator.agent.state import AgentState, Outcome, PendingCall, StepRecord
from orchestrator.agent.transcript import tool_entry
from orchestrator.storage.artifacts import ArtifactRecord

__all__ = ["MAX_OBSERVATION_CHARS", "observe"]

MAX_OBSERVATION_CHARS = 6000


def _place(value: Any, path: list[str | int], item: Any) -> Any:
    """A copy of ``value`` with ``item`` at ``path`` (the rest shared, not copied)."""
    if not path:
        return item
    head, rest = path[0], path[1:]
    if isinstance(value, list) and isinstance(head, int):
        copied = list(value)
        copied[head] = _place(copied[head], rest, item)
        return copied
    mapping = dict(value) if isinstance(value, dict) else {}
    mapping[str(head)] = _place(mapping.get(str(head)), rest, item)
    return mapping


def _register(outcome: Outcome, step: int, handles: HandleAllocator, new: dict[str, ArtifactRecord]) -> Any:
    """Give each new artifact a handle; return the output as the controller will read it."""
    output = outcome["output"]
    for produced in outcome.get("artifacts") or []:
        handle = handles.next(produced["kind"])
        new[handle] = {
            "handle": handle,
            "id": produced["id"],
            "kind": produced["kind"],
            "shape": produced["shape"],
            "producer_step": step,
            "producer": outcome["call"]["tool"],
            "parents": list(outcome["parents"]),
            "uri": produced["uri"],
        }
        output = _place(output, produced["path"], {"handle": handle, **produced["summary"]})
    return output


def _answers_task(call: PendingCall, ctx: RunContext) -> bool:
    expert = ctx.catalogue.get(call["tool"])
    return expert is not None and expert.is_task_call(call["arguments"])


def render_observation(tool: str, body: dict[str, Any]) -> str:
    """Compact JSON; very long outputs are cut with a note saying where the rest is."""
    text = json.dumps(body, ensure_ascii=False, separators=(", ", ": "))
    if len(text) <= MAX_OBSERVATION_CHARS:
        return text
    return (
        text[: MAX_OBSERVATION_CHARS - 120]
        + f" … (cut: {len(text)} characters in all; the full {tool} output is in its artifacts)"
    )


def _observation_line(call: dict[str, Any], observation: str, offset: int, count: int) -> str:
    if "plan_step" in call:
        return f"Observation (plan step {call['plan_step']}): {observation}"
    return f"Observation {offset + 1}: {observation}" if count > 1 else f"Observation: {observation}"


def observe(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Turn the act node's outcomes into artifacts, step records and one observation message."""
    handles = HandleAllocator(state.get("handle_counts"), state.get("artifacts", {}))
    new: dict[str, ArtifactRecord] = {}
    steps: list[StepRecord] = []
    lines = []
    answers: list[dict[str, Any]] = []  # native calls: one tool entry per call id
    plan_results: dict[str, Any] = {}
    outcomes = state.get("outcomes", [])
    first_index = len(state.get("steps", [])) + 1
    for offset, outcome in enumerate(outcomes):
        index = first_index + offset
        call = outcome["call"]
        before = set(new)
        if outcome["ok"]:
            body = {"tool": call["tool"], "output": _register(outcome, index, handles, new)}
        else:
            body = {"tool": call["tool"], "error": outcome["error"]}
        observation = render_observation(call["tool"], body)
        if call.get("call_id"):
            answers.append(tool_entry(call["call_id"], observation))
        else:
            lines.append(_observation_line(dict(call), observation, offset, len(outcomes)))
        produced = [h for h in new if h not in before]
        if "plan_step" in call:
            kinds: dict[str, list[str]] = {}
            for handle in produced:
                kinds.setdefault(new[handle]["kind"], []).append(handle)
            entry = {
                "ok": outcome["ok"],
                "handles": kinds,
                "output": body.get("output"),
                "error": outcome["error"],
            }
            record_result(plan_results, call, entry, state.get("plan"))  # a map step collects its items
        steps.append(
            {
                "index": index,
                "run_id": state["run_id"],
                "turn": state.get("turn", 0),
                "thought": call["thought"],
                "tool": call["tool"],
                "arguments": call["arguments"],
                "observation": observation,
                "started_at": outcome["started_at"],
                "seconds": outcome["seconds"],
                "replica": outcome["replica"],
                "error": outcome["error"],
                "error_type": outcome.get("error_type"),
                "traceback": outcome.get("traceback"),
                "new_handles": produced,
                "repairs": list(call.get("repairs", [])),
                "answers_task": _answers_task(call, runtime.context),
                "attempts": outcome.get("attempts", 1),
                "plan_step": call.get("plan_step"),
                "map_index": call.get("map_index"),
            }
        )
    update: dict[str, Any] = {"steps": steps, "outcomes": [], "plan_results": plan_results}
    if new:
        update |= {"artifacts": new, "handle_counts": handles.counts}
    if lines or answers:
        update["transcript"] = answers + ([{"role": "user", "content": "\n".join(lines)}] if lines else [])
    if state.get("status", "running") != "running":  # cancelled while the calls ran
        return update | {"plan": None}
    if state.get("plan"):
        merged = {**state.get("plan_results", {}), **plan_results}
        progress = plan_progress(state, merged, runtime.context)
        if "transcript" in progress:
            update["transcript"] = update.get("transcript", []) + progress.pop("transcript")
        return update | progress
    if state.get("turn", 0) >= runtime.context.max_steps:
        update |= {
            "status": "failed",
            "failure": f"no final answer after {runtime.context.max_steps} controller turns (max_steps)",
        }
    return update


def _blocked(plan: list[dict[str, Any]], failed: set[int]) -> list[int]:
    """Steps that cannot run because they depend, directly or not, on a failed step."""
    blocked: set[int] = set()
    changed = True
    while changed:
        changed = False
        for step in plan:
            if step["id"] not in blocked and set(step["dependencies"]) & (failed | blocked):
                blocked.add(step["id"])
                changed = True
    return sorted(blocked)


def _produced(plan: list[dict[str, Any]], results: dict[str, Any]) -> str:
    parts = []
    for step in plan:
        handles = [h for hs in results[str(step["id"])]["handles"].values() for h in hs]
        parts.append(f"step {step['id']} {step['tool']} -> {', '.join(handles) or 'done'}")
    return "; ".join(parts)


def plan_progress(state: AgentState, results: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """After a wave: run the next one, or hand back to the controller (done, or re-plan), or end."""
    plan = state.get("plan") or []
    done = {int(k) for k, r in results.items() if r["ok"]}
    failed = {int(k) for k, r in results.items() if not r["ok"]}
    remaining = [s for s in plan if str(s["id"]) not in results]
    if any(set(s["dependencies"]) <= done for s in remaining):
        return {}  # the next wave can run
    if not failed:
        if state.get("pipeline"):
            answer = f"The plan ran all {len(plan)} steps: {_produced(plan, results)}."
            return {"plan": None, "status": "answered", "answer": answer}
        return {"plan": None}  # the controller reads the observations and answers
    blocked = _blocked(plan, failed)
    errors = "; ".join(f"step {k} failed: {results[str(k)]['error']}" for k in sorted(failed))
    if state.get("pipeline"):
        not_run = f"; not run: steps {', '.join(map(str, blocked))}" if blocked else ""
        return {"plan": None, "status": "failed", "failure": f"the plan could not finish: {errors}{not_run}"}
    replans = state.get("replans", 0) + 1
    if replans > ctx.max_replans:
        failure = f"the plan still failed after {ctx.max_replans} re-plans: {errors}"
        return {"plan": None, "status": "failed", "failure": failure}
    kept = ", ".join(str(k) for k in sorted(done)) or "none"
    request = (
        f"Observation: {errors}. Steps not run because they depend on it: "
        f"{', '.join(map(str, blocked)) or 'none'}. Completed steps ({kept}) are kept; "
        "their outputs are in the artifact table. Reply with a Plan (or Actions) for the failed and "
        "not-run steps only, using the existing handles, or with a Final Answer."
    )
    return {"plan": None, "replans": replans, "transcript": [{"role": "user", "content": request}]}
