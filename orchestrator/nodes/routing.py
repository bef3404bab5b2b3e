"""Conditional edges: where the loop goes after think and after observe."""

from __future__ import annotations

from orchestrator.state import AgentState

__all__ = ["after_observe", "after_think"]


def after_think(state: AgentState) -> str:
    """To act when there are calls to run, to finish when done or failed, else think again."""
    if state.get("status") != "running":
        return "finish"
    return "act" if state.get("pending") else "think"


def after_observe(state: AgentState) -> str:
    """Back to think, unless the run has ended (step budget spent)."""
    return "finish" if state.get("status") != "running" else "think"
