"""Scripted controller backend: replays canned replies (offline demo and tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

from llm.base import ChatMessage, LLMError

__all__ = ["ScriptEntry", "ScriptedChatModel"]

ScriptEntry = Union[str, Callable[[list[ChatMessage]], str]]  # noqa: UP007 -- runtime alias on py3.10
"""A scripted reply: a fixed string, or a callable building the reply from the messages so far."""


class ScriptedChatModel:
    """Replays ``responses`` in order, one per :meth:`complete` call.

    Each entry is a ``str`` or a callable ``(messages) -> str``, so a replay can build its reply from
    the observations it has seen. ``is_replay`` is always True and ``label`` always contains "replay",
    so results can never pass a replay off as a generated answer. ``calls`` counts calls and ``seen``
    keeps a copy of the messages of each call.
    """

    is_replay: bool = True

    def __init__(self, responses: Sequence[ScriptEntry], label: str = "scripted replay") -> None:
        for i, entry in enumerate(responses):
            if not isinstance(entry, str) and not callable(entry):
                raise LLMError(
                    f"scripted controller response #{i} is a {type(entry).__name__}: each entry must be "
                    "a str or a callable (messages) -> str"
                )
        self.responses: list[ScriptEntry] = list(responses)
        self.label: str = label if "replay" in label.lower() else f"{label} (replay)"
        self.calls: int = 0
        self.seen: list[list[ChatMessage]] = []

    def __repr__(self) -> str:
        return f"ScriptedChatModel({self.label!r}, {self.calls}/{len(self.responses)} used)"

    @property
    def remaining(self) -> int:
        """How many scripted responses are left."""
        return len(self.responses) - self.calls

    def complete(self, messages: list[ChatMessage], *, stop: list[str] | None = None) -> str:
        """Return the next scripted reply (``stop`` is ignored); raise :class:`LLMError` when exhausted."""
        if self.calls >= len(self.responses):
            raise LLMError(
                f"scripted controller has no more responses (it had {len(self.responses)}): the agent asked "
                "for more steps than the script covers -- extend the script, lower the step limit, or "
                "configure a real controller backend (controller.backend: openai or transformers)"
            )
        entry = self.responses[self.calls]
        snapshot: list[ChatMessage] = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        self.seen.append(snapshot)
        self.calls += 1
        if isinstance(entry, str):
            return entry
        try:
            reply = entry([ChatMessage(role=m["role"], content=m["content"]) for m in messages])
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(
                f"scripted controller response #{self.calls - 1} ({getattr(entry, '__name__', entry)!r}) "
                f"raised {type(exc).__name__}: {exc} -- fix the script"
            ) from exc
        if not isinstance(reply, str):
            raise LLMError(
                f"scripted controller response #{self.calls - 1} returned a {type(reply).__name__}, "
                "not a str -- fix the script"
            )
        return reply
