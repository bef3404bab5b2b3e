"""Context budget: what of a long session's transcript the controller sees."""

from __future__ import annotations

from orchestrator.state import Message

__all__ = ["controller_view"]


def controller_view(transcript: list[Message], budget_tokens: int) -> list[Message]:
    """The transcript as the controller sees it, within ``budget_tokens`` (approximate)."""
    return list(transcript)
