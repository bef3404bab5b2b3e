"""observe: register new artifacts under handles, and write one observation per call."""

from __future__ import annotations

import json
from typing import Any

from langgraph.runtime import Runtime

from orchestrator.artifacts import ArtifactRecord, next_handle
from orchestrator.context import RunContext
from orchestrator.state import AgentState, Outcome, StepRecord

__all__ = ["MAX_OBSERVATION_CHARS", "observe"]

MAX_OBSERVATION_CHARS = 6000


def _register(
    value: Any, step: int, outcome: Outcome, table: dict[str, ArtifactRecord], new: dict[str, ArtifactRecord]
) -> Any:
    """Give each artifact placeholder a handle; return the output as the controller will read it."""
    if isinstance(value, dict) and "__artifact__" in value:
        info = value["__artifact__"]
        handle = next_handle(table, info["kind"], taken=set(new))
        new[handle] = {
            "handle": handle,
            "id": info["id"],
            "kind": info["kind"],
            "shape": info["shape"],
            "producer_step": step,
            "producer": outcome["call"]["tool"],
            "parents": list(outcome["parents"]),
            "uri": info["uri"],
        }
        return {"handle": handle, **info["summary"]}
    if isinstance(value, dict):
        return {k: _register(v, step, outcome, table, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_register(v, step, outcome, table, new) for v in value]
    return value


def render_observation(tool: str, body: dict[str, Any]) -> str:
    """Compact JSON; very long outputs are cut with a note saying where the rest is."""
    text = json.dumps(body, ensure_ascii=False, separators=(", ", ": "))
    if len(text) <= MAX_OBSERVATION_CHARS:
        return text
    return (
        text[: MAX_OBSERVATION_CHARS - 120]
        + f" … (cut: {len(text)} characters in all; the full {tool} output is in its artifacts)"
    )


def observe(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Turn the act node's outcomes into artifacts, step records and one observation message."""
    table = state.get("artifacts", {})
    new: dict[str, ArtifactRecord] = {}
    steps: list[StepRecord] = []
    lines = []
    first_index = len(state.get("steps", [])) + 1
    for offset, outcome in enumerate(state.get("outcomes", [])):
        index = first_index + offset
        call = outcome["call"]
        before = set(new)
        if outcome["ok"]:
            body = {"tool": call["tool"], "output": _register(outcome["output"], index, outcome, table, new)}
        else:
            body = {"tool": call["tool"], "error": outcome["error"]}
        observation = render_observation(call["tool"], body)
        lines.append(
            f"Observation {offset + 1}: {observation}"
            if len(state["outcomes"]) > 1
            else f"Observation: {observation}"
        )
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
                "new_handles": [h for h in new if h not in before],
            }
        )
    update: dict[str, Any] = {
        "artifacts": new,
        "steps": steps,
        "outcomes": [],
        "transcript": [{"role": "user", "content": "\n".join(lines)}],
    }
    if state.get("turn", 0) >= runtime.context.max_steps:
        update |= {
            "status": "failed",
            "failure": f"no final answer after {runtime.context.max_steps} controller turns (max_steps)",
        }
    return update
