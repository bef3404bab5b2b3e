"""The plan's data: its steps, the validated plan, and the one error a plan raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.agent.plan_refs import references_in

__all__ = ["Plan", "PlanError", "PlanStep"]


class PlanError(ValueError):
    """A plan that cannot be run; ``problems`` lists each defect for the controller (or the caller)."""

    def __init__(self, problems: list[str], repairs: list[str] | None = None) -> None:
        self.problems = problems
        self.repairs = repairs or []
        super().__init__("the plan cannot run: " + "; ".join(problems))


@dataclass
class PlanStep:
    """One step: ``id`` is an int, ``dependencies`` the ids whose outputs it needs."""

    id: int
    tool: str
    arguments: dict[str, Any]
    dependencies: list[int] = field(default_factory=list)
    map: list[str] | None = None
    """The arguments this step maps over, one call per item (:mod:`orchestrator.agent.plan_map`)."""

    def references(self) -> set[int]:
        """The step ids its arguments reference."""
        return references_in(self.arguments)


@dataclass
class Plan:
    """A validated plan in a runnable order, with what was repaired on the way."""

    steps: list[PlanStep]
    repairs: list[str] = field(default_factory=list)

    def step(self, step_id: int) -> PlanStep:
        return next(s for s in self.steps if s.id == step_id)

    def to_json(self) -> list[dict[str, Any]]:
        return [vars(s).copy() for s in self.steps]
