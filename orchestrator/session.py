"""A handle on one session of an orchestrator: the same calls without repeating the session id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from orchestrator.result import ArtifactInfo, Result

if TYPE_CHECKING:
    from orchestrator.events import Event
    from orchestrator.sdk import Orchestrator

__all__ = ["Session"]


class Session:
    """``orch.session("shelf-42")``: multi-turn work on one session's images, masks and answers."""

    def __init__(self, orchestrator: Orchestrator, session_id: str) -> None:
        self.orchestrator = orchestrator
        self.id = session_id

    def run(self, task: str, images: Any = None, **options: Any) -> Result:
        """A follow-up turn: it sees the session's earlier artifacts (by handle) and transcript."""
        return self.orchestrator.run(task, images, session=self.id, **options)

    def stream(self, task: str, images: Any = None, **options: Any) -> Iterator[Event]:
        return self.orchestrator.stream(task, images, session=self.id, **options)

    def run_plan(self, plan: Any, images: Any = None, **options: Any) -> Result:
        return self.orchestrator.run_plan(plan, images, session=self.id, **options)

    def approve(self, **options: Any) -> Result:
        return self.orchestrator.approve(self.id, **options)

    def deny(self, **options: Any) -> Result:
        return self.orchestrator.deny(self.id, **options)

    def resume(self, **options: Any) -> Result:
        return self.orchestrator.resume(self.id, **options)

    def cancel(self) -> bool:
        return self.orchestrator.cancel(self.id)

    @property
    def artifacts(self) -> dict[str, ArtifactInfo]:
        """Every artifact of the session, by handle, with lineage."""
        store = self.orchestrator.store
        table = self.orchestrator.runner.table(self.id)
        return {h: ArtifactInfo.from_record(r, store) for h, r in table.items()}

    @property
    def transcript(self) -> list[dict[str, str]]:
        """The whole stored transcript (the controller sees a compacted view of long ones)."""
        return list(self.orchestrator.runner.values(self.id).get("transcript", []))
