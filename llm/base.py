"""The one protocol every controller backend implements, and the optional native tool-calling one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict, TypeGuard, runtime_checkable

__all__ = [
    "ChatMessage",
    "ChatModel",
    "ChatToolCall",
    "LLMError",
    "ToolCall",
    "ToolCallingChatModel",
    "ToolChoice",
    "ToolReply",
    "ToolsUnsupported",
    "supports_native_tools",
]


class ChatToolCall(TypedDict):
    """A tool call as plain data, inside an assistant :class:`ChatMessage` (and the transcript).

    ``arguments`` is the decoded JSON object, or the raw text when the model's arguments were not
    a JSON object (kept so the mistake can be reported back to the model).
    """

    id: str
    name: str
    arguments: dict[str, Any] | str


class _ChatMessageBase(TypedDict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ChatMessage(_ChatMessageBase, total=False):
    """One chat message: ``role`` is system, user, assistant or tool; ``content`` its text.

    Plain messages carry only ``role`` and ``content``. With native tool calling an assistant
    message may carry ``tool_calls``, and each ``tool`` message answers one call by its
    ``tool_call_id``.
    """

    tool_calls: list[ChatToolCall]
    tool_call_id: str


class LLMError(RuntimeError):
    """The controller backend could not produce a reply (endpoint down, bad config, ...)."""


class ToolsUnsupported(LLMError):
    """The backend (or the server behind it) does not accept native tool calls: use text mode."""


@dataclass(frozen=True)
class ToolCall:
    """One native tool call of a reply: ``arguments`` is a dict, or the raw text if it was not one."""

    id: str
    name: str
    arguments: dict[str, Any] | str

    def to_dict(self) -> ChatToolCall:
        """The call as plain data (for an assistant message or the transcript)."""
        arguments = dict(self.arguments) if isinstance(self.arguments, dict) else self.arguments
        return {"id": self.id, "name": self.name, "arguments": arguments}


@dataclass(frozen=True)
class ToolReply:
    """An assistant reply with native tool calling: its text and the calls it made."""

    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)


ToolChoice = Literal["auto", "none", "required"] | dict[str, Any]
"""``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function", "function": {"name": ...}}``."""


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


@runtime_checkable
class ToolCallingChatModel(ChatModel, Protocol):
    """A chat model that can also call tools natively (OpenAI-style ``tools``).

    ``supports_tools`` says whether it should be asked to (a config switch); a server that turns
    out not to accept tools makes :meth:`complete_with_tools` raise :class:`ToolsUnsupported`.
    """

    supports_tools: bool

    def complete_with_tools(
        self, messages: list[ChatMessage], tools: list[dict[str, Any]], *, tool_choice: ToolChoice = "auto"
    ) -> ToolReply:
        """The reply to ``messages`` given ``tools`` (OpenAI function specs); :class:`LLMError` on failure."""
        ...


def supports_native_tools(model: object) -> TypeGuard[ToolCallingChatModel]:
    """True when ``model`` implements native tool calling and has it switched on."""
    return isinstance(model, ToolCallingChatModel) and bool(model.supports_tools)
