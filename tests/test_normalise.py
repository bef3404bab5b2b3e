"""What the controller writes becomes plain JSON every checkpointer stores, or is refused (issue 8 §1)."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from llm.base import ToolCall, ToolReply
from orchestrator.agent.normalise import (
    MAX_DEPTH,
    MAX_INT,
    NotPlainJSON,
    clean_text,
    plain_arguments,
    plain_json,
)
from orchestrator.agent.transcript import assistant_entry


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_plain_values_come_back_as_plain_copies():
    value = {
        "box": (0, 0, MAX_INT, -MAX_INT),
        "ok": True,
        "none": None,
        "f": 0.5,
        "deep": nested(MAX_DEPTH - 1),
    }
    plain = plain_json(value)
    assert plain["box"] == [0, 0, MAX_INT, -MAX_INT] and plain["deep"] == nested(MAX_DEPTH - 1)
    stored = JsonPlusSerializer()
    assert stored.loads_typed(stored.dumps_typed(plain)) == plain


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"box": [0, 0, 2**64, 5]}, "at 'box[2]' has 20 digits"),
        ({"box": [-(2**63) - 1]}, "numbers must lie within"),
        ({"a": nested(MAX_DEPTH + 1)}, f"more than {MAX_DEPTH} levels deep"),
        ({"a": "x\ud800"}, "the text at 'a' holds an unpaired surrogate"),
        ({"\udfff": 1}, "object key at the top level holds an unpaired surrogate"),
        ({"a": float("nan")}, "is nan; write a finite number"),
        ({"a": {"b": float("inf")}}, "at 'a.b' is inf"),
        ({"a": 1j}, "a complex number"),
        ({"a": {1, 2}}, "a set"),
        ({"a": b"x"}, "bytes"),
        ({"a": ...}, "'...' (Ellipsis)"),
        ({"a": object()}, "a Python object"),
        ({(1, 2): "x"}, "key at the top level is (1, 2), not a string"),
        ({10**5000: "x"}, "an integer (5001 digits)"),
    ],
)
def test_values_no_checkpointer_stores_are_refused_saying_where_and_what(value, words):
    with pytest.raises(NotPlainJSON) as caught:
        plain_json(value)
    assert words in str(caught.value)


def test_a_cycle_is_refused_not_followed_forever():
    loop: list = []
    loop.append(loop)
    with pytest.raises(NotPlainJSON, match="levels deep"):
        plain_json(loop)


def test_arguments_must_be_an_object():
    with pytest.raises(NotPlainJSON, match="'crop' must be a JSON object"):
        plain_arguments([1, 2], "crop")
    assert plain_arguments({"image": "image-1"}, "crop") == {"image": "image-1"}


def test_free_text_is_made_valid_unicode():
    assert clean_text("a\ud800b\udfff") == "a\ufffdb\ufffd" and clean_text("ok 😀") == "ok 😀"


def test_a_native_reply_is_stored_as_plain_json_whatever_its_arguments():
    reply = ToolReply(
        "thinking \ud800",
        [ToolCall("a", "crop", {"box": [0, 0, 2**64, 5]}), ToolCall("b", "noop", {"payload": "fine"})],
    )
    entry = assistant_entry(reply)
    assert entry["content"] == "thinking \ufffd"
    assert isinstance(entry["tool_calls"][0]["arguments"], str)  # kept as text, for the record
    assert entry["tool_calls"][1]["arguments"] == {"payload": "fine"}
    stored = JsonPlusSerializer()
    assert stored.loads_typed(stored.dumps_typed(entry)) == entry
