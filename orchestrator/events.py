"""Typed events a run yields as it happens (``Orchestrator.stream``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from orchestrator.result import Result

__all__ = [
    "AnswerEvent",
    "ApprovalRequested",
    "ErrorEvent",
    "Event",
    "PlanAccepted",
    "RunFinished",
    "RunStarted",
    "ThoughtEvent",
    "ToolFinished",
    "ToolStarted",
]


class RunStarted(BaseModel):
    type: Literal["start"] = "start"
    session: str
    run_id: str
    task: str
    inputs: list[str]
    resumed: bool = False


class PlanAccepted(BaseModel):
    type: Literal["plan"] = "plan"
    steps: list[dict[str, Any]]
    repairs: list[str]


class ThoughtEvent(BaseModel):
    type: Literal["thought"] = "thought"
    turn: int
    text: str
    actions: list[dict[str, Any]]
    repairs: list[str] = []
    """What the parser repaired in the controller's reply."""


class ToolStarted(BaseModel):
    type: Literal["tool_start"] = "tool_start"
    tool: str
    arguments: dict[str, Any]
    plan_step: int | None = None


class ToolFinished(BaseModel):
    type: Literal["tool_end"] = "tool_end"
    tool: str
    seconds: float
    replica: str | None
    error: str | None
    new_handles: list[str]
    observation: str
    error_type: str | None = None
    """Whose problem the error is (``arguments``, ``input``, ``expert``, ``timeout``, ``resource``, …)."""


class ApprovalRequested(BaseModel):
    type: Literal["approval"] = "approval"
    session: str
    calls: list[dict[str, Any]]


class AnswerEvent(BaseModel):
    type: Literal["answer"] = "answer"
    text: str


class ErrorEvent(BaseModel):
    """A problem: ``fatal`` ends the run (failure, cancellation); otherwise the run goes on."""

    type: Literal["error"] = "error"
    message: str
    fatal: bool


class RunFinished(BaseModel):
    type: Literal["end"] = "end"
    result: Result


Event = Annotated[
    RunStarted
    | PlanAccepted
    | ThoughtEvent
    | ToolStarted
    | ToolFinished
    | ApprovalRequested
    | AnswerEvent
    | ErrorEvent
    | RunFinished,
    Field(discriminator="type"),
]
