"""think: the controller LLM reads the transcript and replies with actions or an answer."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from llm.base import LLMError
from orchestrator.agent.context import RunContext
from orchestrator.agent.memory import controller_view
from orchestrator.agent.parser import ParseError
from orchestrator.agent.plan import PlanError, validate_plan, waves
from orchestrator.agent.state import AgentState, StepRecord
from orchestrator.agent.tool_calling import ask_controller, parse_reply, pending_calls
from orchestrator.agent.transcript import assistant_entry, call_results, entry_text, observed_texts
from prompts import render
from redaction import redact

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
        "error_type": "controller" if fields.get("error") else None,
        "traceback": None,
        "new_handles": [],
        "repairs": [],
        "answers_task": False,
    }
    base.update(fields)  # type: ignore[typeddict-item]
    return base


def think(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """One controller turn."""
    ctx = runtime.context
    stop = ctx.stop_reason()
    if stop:
        return {"status": "cancelled", "failure": stop}
    turn = state.get("turn", 0) + 1
    started = time.time()
    try:
        reply = ask_controller(ctx, controller_view(state, ctx.context_budget_tokens))
    except Exception as err:  # the backend's own failure (LLMError) or a bug in a backend: the run ends
        why = str(err) if isinstance(err, LLMError) else f"{type(err).__name__}: {err}"
        reason = redact(f"the controller ({ctx.llm.label}) failed: {why}")  # any backend's error text
        return {
            "turn": turn,
            "status": "failed",
            "failure": reason,
            "steps": [_record(state, turn, started, error=reason)],
        }
    assistant = assistant_entry(reply)
    try:
        parsed = parse_reply(reply, observed_texts(state.get("steps", [])))
        plan = (
            validate_plan(parsed.plan, ctx.catalogue, handles=set(state.get("artifacts", {})))
            if parsed.plan is not None
            else None
        )
    except ParseError as err:
        return _reject(state, ctx, turn, started, assistant, f"unparseable controller reply: {err}", str(err))
    except PlanError as err:
        problem = "your Plan cannot run:\n- " + "\n- ".join(err.problems)
        return _reject(state, ctx, turn, started, assistant, problem, problem)
    repairs = list(parsed.repairs)
    if plan is not None:
        summary = f"plan accepted: {len(plan.steps)} steps in {len(waves(plan))} waves"
        if plan.repairs:
            summary += "; repaired: " + "; ".join(plan.repairs)
        record = _record(
            state, turn, started, thought=parsed.thought, observation=summary, repairs=repairs + plan.repairs
        )
        return {
            "turn": turn,
            "parse_failures": 0,
            "transcript": [assistant, *call_results(assistant, summary)],
            "plan": plan.to_json(),
            "plan_results": None,
            "steps": [record],
        }
    if parsed.actions:
        pending = pending_calls(parsed)
        if repairs:
            pending[0]["repairs"] = repairs
        return {"turn": turn, "parse_failures": 0, "transcript": [assistant], "pending": pending}
    answer = (parsed.final_answer or "").strip()
    return {
        "turn": turn,
        "parse_failures": 0,
        "transcript": [assistant, *call_results(assistant, "The answer was given to the user.")],
        "answer": answer,
        "status": "answered",
        "steps": [_record(state, turn, started, thought=parsed.thought, observation=answer, repairs=repairs)],
    }


def _reject(
    state: AgentState,
    ctx: RunContext,
    turn: int,
    started: float,
    assistant: dict[str, Any],
    error: str,
    problem: str,
) -> dict[str, Any]:
    """A reply that cannot be used: a corrective observation, or the end after too many in a row."""
    failures = state.get("parse_failures", 0) + 1
    retries_left = ctx.max_parse_retries - failures + 1
    update: dict[str, Any] = {
        "turn": turn,
        "parse_failures": failures,
        "steps": [_record(state, turn, started, error=error, observation=entry_text(assistant)[:2000])],
    }
    if retries_left <= 0 or turn >= ctx.max_steps:
        update |= {
            "status": "failed",
            "failure": (
                f"the controller's replies could not be used ({failures} in a row); last problem: {problem}"
            ),
            "transcript": [assistant],
        }
    else:
        correction = render("correction", problem=problem, retries_left=retries_left)
        answers = call_results(assistant, correction) or [{"role": "user", "content": correction}]
        update["transcript"] = [assistant, *answers]
    return update
