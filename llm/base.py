"""The one protocol every controller backend implements."""

from __future__ import annotations

from typing import Literal, Protocol, TypedDict, runtime_checkable

__all__ = ["ChatMessage", "ChatModel", "LLMError"]


class ChatMessage(TypedDict):
    """One chat message: ``role`` is system, user or assistant."""

    role: Literal["system", "user", "assistant"]
    content: str


class LLMError(RuntimeError):
    """The controller backend could not produce a reply (endpoint down, bad config, ...)."""


@runtime_checkable
class ChatModel(Protocol):
    """A chat model the controller talks to.

    ``label`` names the backend for results and output (e.g. ``"openai-compatible
    qwen2.5-7b @ http://localhost:8000/v1"``); ``is_replay`` is True for scripted
    backends, whose replies are replayed rather than generated.
    """

    label: str
    is_replay: bool

    def complete(self, messages: list[ChatMessage], *, stop: list[str] | None = None) -> str:
        """Return the assistant's reply to ``messages``; raise :class:`LLMError` on failure."""
        ...
