"""Conditional edges: where the loop goes after think and after observe."""

from __future__ import annotations

from orchestrator.agent.state import AgentState

__all__ = ["after_observe", "after_think", "at_start"]


def at_start(state: AgentState) -> str:
    """An explicit plan (``run_plan``) starts with its first wave; a task starts with the controller."""
    return "plan_wave" if state.get("plan") else "think"


def after_think(state: AgentState) -> str:
    """To act when there are calls, to the plan's first wave, to finish when done, else think again."""
    if state.get("status") != "running":
        return "finish"
    if state.get("pending"):
        return "act"
    return "plan_wave" if state.get("plan") else "think"


def after_observe(state: AgentState) -> str:
    """The plan's next wave while one is running, else back to think; finish once the run ended."""
    if state.get("status") != "running":
        return "finish"
    return "plan_wave" if state.get("plan") else "think"
