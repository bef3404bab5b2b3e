"""Transcript entries for native tool calling, and how they become chat messages again.

An assistant turn that called functions keeps its ``tool_calls``; each call's observation is a
``tool`` entry with the call's ``tool_call_id``. Both are plain JSON, checkpointed with the state.
``to_chat_messages`` rebuilds an OpenAI-style request from them; ``to_text_messages`` renders the
same transcript in the text (MM-ReAct) format for text-mode controllers and summaries.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from llm.base import ChatMessage, ChatToolCall, ToolCall, ToolReply
from orchestrator.agent.normalise import NotPlainJSON, clean_text, plain_json

__all__ = [
    "FINAL_ANSWER",
    "PLAN",
    "assistant_entry",
    "call_results",
    "entry_text",
    "observed_texts",
    "to_chat_messages",
    "to_text_messages",
    "tool_entry",
]

FINAL_ANSWER = "final_answer"
PLAN = "plan"
_TEXT_LABELS = re.compile(r"^[ \t>#*_-]*(thought|action|final[ _]?answer|plan)[ \t*_]*:", re.I | re.M)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_UNANSWERED = {FINAL_ANSWER: "The final answer was given to the user.", PLAN: "(the plan was not run)"}


def assistant_entry(reply: str | ToolReply) -> dict[str, Any]:
    """The transcript entry of a controller reply, as plain JSON any checkpointer stores: valid
    Unicode, and a native reply's tool calls with arguments that are plain JSON -- or, when they are
    not, their text (the parser reports the mistake to the controller)."""
    if isinstance(reply, str):
        return {"role": "assistant", "content": clean_text(reply)}
    entry: dict[str, Any] = {"role": "assistant", "content": clean_text(reply.content)}
    if reply.tool_calls:
        entry["tool_calls"] = [_plain_call(call) for call in reply.tool_calls]
    return entry


def _plain_call(call: ToolCall) -> dict[str, Any]:
    arguments: Any = call.arguments
    try:
        arguments = plain_json(arguments) if not isinstance(arguments, str) else clean_text(arguments)
    except NotPlainJSON:
        arguments = clean_text(repr(arguments)[:2000])
    return {"id": clean_text(str(call.id)), "name": clean_text(str(call.name)), "arguments": arguments}


def observed_texts(steps: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The texts the experts produced, from the observations of tool-call steps (for the parser:
    an action written in them is quoted, never run). Cut observations give up their whole strings."""
    for step in steps:
        observation = step.get("observation") or ""
        if not step.get("tool") or "action" not in observation.lower():
            continue
        try:
            body = json.loads(observation)
        except ValueError:
            for literal in _JSON_STRING.findall(observation):
                with contextlib.suppress(ValueError):
                    yield json.loads(literal)
            continue
        yield from _strings(body)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def tool_entry(call_id: str, content: str) -> dict[str, Any]:
    """The transcript entry answering one native call: its observation (or a correction)."""
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def call_results(assistant: Mapping[str, Any], content: str) -> list[dict[str, Any]]:
    """One tool entry with ``content`` per call of a native assistant entry; [] for a text entry."""
    return [tool_entry(call["id"], content) for call in assistant.get("tool_calls") or []]


def _calls(entry: Mapping[str, Any]) -> list[ChatToolCall]:
    calls = entry.get("tool_calls") if entry.get("role") == "assistant" else None
    return [
        {"id": str(c["id"]), "name": str(c["name"]), "arguments": c["arguments"]}
        for c in calls or []
        if isinstance(c, Mapping)
    ]


def to_chat_messages(transcript: Iterable[Mapping[str, Any]]) -> list[ChatMessage]:
    """The transcript as chat messages for a native tool-calling request.

    Native turns become an assistant message with ``tool_calls`` followed by one ``tool`` message
    per call id. A call with no recorded result (a dropped call, a run that ended early) is answered
    with a short note; a tool entry whose call is not the open one becomes a user observation.
    """
    messages: list[ChatMessage] = []
    open_calls: dict[str, str] = {}

    def close() -> None:
        for call_id, name in open_calls.items():
            note = _UNANSWERED.get(name, "(no result: this call was not run)")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": note})
        open_calls.clear()

    for entry in transcript:
        role, content = entry.get("role"), str(entry.get("content") or "")
        if role == "tool":
            call_id = entry.get("tool_call_id")
            if isinstance(call_id, str) and call_id in open_calls:
                del open_calls[call_id]
                messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
            else:
                close()
                messages.append({"role": "user", "content": _as_observation(content)})
            continue
        close()
        calls = _calls(entry)
        if calls:
            messages.append({"role": "assistant", "content": content, "tool_calls": calls})
            open_calls.update((call["id"], call["name"]) for call in calls)
        else:
            messages.append(cast(ChatMessage, {"role": role, "content": content}))
    close()
    return messages


def _as_observation(content: str) -> str:
    return content if content.startswith("Observation") else f"Observation: {content}"


def entry_text(entry: Mapping[str, Any]) -> str:
    """A transcript entry as text: a native turn is written in the text format (Thought / Action ...)."""
    content = str(entry.get("content") or "")
    calls = _calls(entry)
    if not calls:
        return content
    parts = []
    if content.strip():
        parts.append(content.strip() if _TEXT_LABELS.match(content) else f"Thought: {content.strip()}")
    for call in calls:
        arguments = call["arguments"]
        if call["name"] == FINAL_ANSWER and isinstance(arguments, dict) and "answer" in arguments:
            parts.append(f"Final Answer: {arguments['answer']}")
        elif call["name"] == PLAN and isinstance(arguments, dict):
            parts.append("Plan:\n" + json.dumps(arguments.get("steps", arguments), ensure_ascii=False))
        else:
            text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            parts.append(f"Action: {call['name']}\nAction Input: {text}")
    return "\n".join(parts)


def to_text_messages(transcript: Iterable[Mapping[str, Any]]) -> list[ChatMessage]:
    """The transcript as plain role/content messages for a text-mode controller.

    Native turns are written in the text format and the tool entries that follow one become a
    single user message of numbered observations, as the text-mode observe node writes them.
    """
    messages: list[ChatMessage] = []
    observations: list[str] = []

    def flush() -> None:
        if len(observations) == 1:
            messages.append({"role": "user", "content": _as_observation(observations[0])})
        elif observations:
            lines = [f"Observation {i}: {text}" for i, text in enumerate(observations, 1)]
            messages.append({"role": "user", "content": "\n".join(lines)})
        observations.clear()

    for entry in transcript:
        if entry.get("role") == "tool":
            observations.append(str(entry.get("content") or ""))
            continue
        flush()
        messages.append(cast(ChatMessage, {"role": entry.get("role"), "content": entry_text(entry)}))
    flush()
    return messages
