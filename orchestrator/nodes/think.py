"""think: the controller LLM reads the transcript and replies with actions or an answer."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from llm.base import ChatMessage, LLMError
from orchestrator.context import RunContext
from orchestrator.parser import ParseError, parse_turn
from orchestrator.state import AgentState, StepRecord
from prompts import render

__all__ = ["think"]


def _record(state: AgentState, turn: int, started: float, **fields: Any) -> StepRecord:
    base: StepRecord = {
        "index": len(state.get("steps", [])) + 1,
        "run_id": state["run_id"],
        "turn": turn,
        "thought": "",
        "tool": None,
        "arguments": {},
        "observation": "",
        "started_at": started,
        "seconds": time.time() - started,
        "replica": None,
        "error": None,
        "new_handles": [],
    }
    base.update(fields)  # type: ignore[typeddict-item]
    return base


def think(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """One controller turn."""
    ctx = runtime.context
    turn = state.get("turn", 0) + 1
    started = time.time()
    messages: list[ChatMessage] = [{"role": "system", "content": ctx.system_prompt}]
    messages += [
        ChatMessage(role=m["role"], content=m["content"])  # type: ignore[typeddict-item]
        for m in state.get("transcript", [])
    ]
    try:
        reply = ctx.llm.complete(messages, stop=["\nObservation:"])
    except LLMError as err:
        reason = f"the controller ({ctx.llm.label}) failed: {err}"
        return {
            "turn": turn,
            "status": "failed",
            "failure": reason,
            "steps": [_record(state, turn, started, error=reason)],
        }
    assistant = {"role": "assistant", "content": reply}
    try:
        parsed = parse_turn(reply)
    except ParseError as err:
        failures = state.get("parse_failures", 0) + 1
        retries_left = ctx.max_parse_retries - failures + 1
        update: dict[str, Any] = {
            "turn": turn,
            "parse_failures": failures,
            "steps": [
                _record(
                    state,
                    turn,
                    started,
                    error=f"unparseable controller reply: {err}",
                    observation=reply[:2000],
                )
            ],
        }
        if retries_left <= 0 or turn >= ctx.max_steps:
            update |= {
                "status": "failed",
                "failure": (
                    f"the controller's replies could not be parsed ({failures} in a row); last problem: {err}"
                ),
                "transcript": [assistant],
            }
        else:
            correction = render("correction", problem=str(err), retries_left=retries_left)
            update["transcript"] = [assistant, {"role": "user", "content": correction}]
        return update
    if parsed.actions:
        pending = [
            {"tool": a.tool, "arguments": a.arguments, "thought": parsed.thought} for a in parsed.actions
        ]
        return {"turn": turn, "parse_failures": 0, "transcript": [assistant], "pending": pending}
    answer = (parsed.final_answer or "").strip()
    return {
        "turn": turn,
        "parse_failures": 0,
        "transcript": [assistant],
        "answer": answer,
        "status": "answered",
        "steps": [_record(state, turn, started, thought=parsed.thought, observation=answer)],
    }
