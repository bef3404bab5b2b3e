"""finish: make the run's end explicit — an answer, or a failure with its reason — in its run record."""

from __future__ import annotations

from typing import Any

from orchestrator.agent.state import AgentState
from prompts import render

__all__ = ["finish"]


def finish(state: AgentState) -> dict[str, Any]:
    """Close the run: an answered run keeps its answer; any other ends as a clear failure."""
    run_id = state["run_id"]
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
