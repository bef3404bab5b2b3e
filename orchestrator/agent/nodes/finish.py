"""finish: once the outputs are saved, make the run's end explicit in its run record: an answer, or a
failure and why."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from orchestrator.agent.context import RunContext
from orchestrator.agent.pixels import describe_failures
from orchestrator.agent.state import AgentState
from prompts import render

__all__ = ["finish"]


def finish(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Close the run: an answered run keeps its answer; any other ends as a clear failure.

    The run's outputs are all saved first; one that could not be saved fails the run (the answer
    is kept, the failure names the lost artifacts).
    """
    run_id = state["run_id"]
    failures = runtime.context.pixels.writer.flush()
    if failures:
        reason = describe_failures(failures, state.get("artifacts", {}))
        return {
            "status": "failed",
            "failure": reason,
            "pending": [],
            "outcomes": [],
            "plan": None,
            "transcript": [{"role": "user", "content": render("failure", reason=reason)}],
            "runs": [
                {"run_id": run_id, "status": "failed", "failure": reason, "answer": state.get("answer")}
            ],
        }
    if state.get("status") == "answered" and state.get("answer"):
        return {
            "pending": [],
            "outcomes": [],
            "runs": [{"run_id": run_id, "status": "answered", "answer": state.get("answer")}],
        }
    if state.get("status") == "cancelled":
        reason = state.get("failure") or "the task was stopped"
        note = f"The task was stopped before it finished ({reason}); what it produced so far is kept."
        return {
            "pending": [],
            "outcomes": [],
            "plan": None,
            "transcript": [{"role": "user", "content": note}],
            "runs": [{"run_id": run_id, "status": "cancelled", "failure": reason}],
        }
    reason = state.get("failure") or "the run ended without a final answer"
    return {
        "status": "failed",
        "failure": reason,
        "answer": None,
        "pending": [],
        "outcomes": [],
        "transcript": [{"role": "user", "content": render("failure", reason=reason)}],
        "runs": [{"run_id": run_id, "status": "failed", "failure": reason}],
    }
