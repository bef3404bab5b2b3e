"""ScriptedChatModel: order, callables, exhaustion, replay labelling."""

from __future__ import annotations

import pytest

from llm import ChatMessage, ChatModel, LLMError, ScriptedChatModel

MSGS: list[ChatMessage] = [
    {"role": "system", "content": "You are a planner."},
    {"role": "user", "content": "How many dogs?"},
]


def test_replays_in_order_and_records_calls() -> None:
    model = ScriptedChatModel(["first", "second"])
    assert isinstance(model, ChatModel)
    assert model.complete(MSGS) == "first"
    assert model.complete(MSGS, stop=["Observation:"]) == "second"
    assert model.calls == 2
    assert model.remaining == 0
    assert model.seen == [MSGS, MSGS]
    assert model.seen[0] is not MSGS  # a copy, not the caller's list


def test_callable_entries_receive_messages() -> None:
    received: list[list[ChatMessage]] = []

    def reply(messages: list[ChatMessage]) -> str:
        received.append(messages)
        return f"saw {len(messages)}: {messages[-1]['content']}"

    model = ScriptedChatModel(["plan", reply])
    assert model.complete(MSGS[:1]) == "plan"
    assert model.complete(MSGS) == "saw 2: How many dogs?"
    assert received == [MSGS]


def test_exhaustion_raises_llm_error_with_count() -> None:
    model = ScriptedChatModel(["only"])
    model.complete(MSGS)
    with pytest.raises(LLMError, match=r"no more responses \(it had 1\)"):
        model.complete(MSGS)


def test_is_replay_and_label_always_says_replay() -> None:
    assert ScriptedChatModel([]).is_replay is True
    assert "replay" in ScriptedChatModel([]).label
    custom = ScriptedChatModel(["x"], label="demo controller")
    assert "replay" in custom.label
    assert "demo controller" in custom.label
    assert ScriptedChatModel(["x"], label="offline replay").label == "offline replay"


def test_bad_entries_and_failing_callables_raise_llm_error() -> None:
    with pytest.raises(LLMError, match="must be a str or a callable"):
        ScriptedChatModel([42])  # type: ignore[list-item]

    def boom(messages: list[ChatMessage]) -> str:
        raise KeyError("observation")

    with pytest.raises(LLMError, match="raised KeyError"):
        ScriptedChatModel([boom]).complete(MSGS)
    with pytest.raises(LLMError, match="not a str"):
        ScriptedChatModel([lambda m: 3]).complete(MSGS)  # type: ignore[list-item,return-value]
