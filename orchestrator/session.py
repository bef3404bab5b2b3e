"""A handle on one session of an orchestrator: the same calls without repeating the session id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from orchestrator.events import Event
from orchestrator.result import ArtifactInfo, Result

__all__ = ["Session", "SessionHost"]


class SessionHost(Protocol):
    """What a session needs of its owner: the local ``Orchestrator`` or a remote client.

    Each call takes the session id as ``session=`` (run, stream, run_plan) or first argument.
    """

    def run(self, *args: Any, **kwargs: Any) -> Result: ...

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Event]: ...

    def run_plan(self, *args: Any, **kwargs: Any) -> Result: ...

    def approve(self, *args: Any, **kwargs: Any) -> Result: ...

    def deny(self, *args: Any, **kwargs: Any) -> Result: ...

    def resume(self, *args: Any, **kwargs: Any) -> Result: ...

    def cancel(self, session: str) -> bool: ...

    def session_artifacts(self, session: str) -> dict[str, ArtifactInfo]: ...

    def session_transcript(self, session: str) -> list[dict[str, Any]]: ...


class Session:
    """``orch.session("shelf-42")``: multi-turn work on one session's images, masks and answers."""

    def __init__(self, orchestrator: SessionHost, session_id: str) -> None:
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
        return self.orchestrator.session_artifacts(self.id)

    @property
    def transcript(self) -> list[dict[str, Any]]:
        """The whole stored transcript (the controller sees a compacted view of long ones)."""
        return self.orchestrator.session_transcript(self.id)
