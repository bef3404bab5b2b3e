"""Native tool calling of OpenAICompatibleChatModel against the fake OpenAI-compatible server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm import (
    ChatMessage,
    LLMError,
    ToolCall,
    ToolCallingChatModel,
    ToolReply,
    ToolsUnsupported,
    supports_native_tools,
)
from llm.scripted import ScriptedChatModel
from tests.llm import test_llm_openai_compat as base
from tests.llm.test_llm_openai_compat import MSGS, FakeServer, Reply, completion, make_model

server = base.server  # the fake server fixture (127.0.0.1, records requests, replies from a queue)

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "ocr",
            "description": "Read the text in an image.",
            "parameters": {
                "type": "object",
                "properties": {"image": {"type": "string"}},
                "required": ["image"],
            },
        },
    }
]


IMAGE_1 = '{"image": "image-1"}'


def tool_completion(calls: list[dict[str, Any]], content: str | None = None) -> dict[str, Any]:
    message = {"role": "assistant", "content": content, "tool_calls": calls}
    return {"id": "cmpl-2", "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}


def call(call_id: str | None, name: str, arguments: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        raw["id"] = call_id
    return raw


def test_request_has_tools_and_tool_choice_and_calls_are_parsed(server: FakeServer) -> None:
    server.replies.append(
        Reply(
            200,
            tool_completion(
                [
                    call("call_a", "ocr", '{"image": "image-1"}'),
                    call("call_b", "crop", json.dumps({"image": "image-1", "box": [0, 0, 8, 8]})),
                ],
                content="Reading it and cropping the corner.",
            ),
        )
    )
    model = make_model(server.url, temperature=0.2, max_tokens=64)
    assert isinstance(model, ToolCallingChatModel) and supports_native_tools(model)

    reply = model.complete_with_tools(MSGS, TOOLS)

    assert reply == ToolReply(
        "Reading it and cropping the corner.",
        [
            ToolCall("call_a", "ocr", {"image": "image-1"}),
            ToolCall("call_b", "crop", {"image": "image-1", "box": [0, 0, 8, 8]}),
        ],
    )
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["json"] == {
        "model": "qwen-test",
        "messages": MSGS,
        "temperature": 0.2,
        "max_tokens": 64,
        "tools": TOOLS,
        "tool_choice": "auto",
    }


def test_tool_choice_is_passed_and_no_tools_means_no_tool_keys(server: FakeServer) -> None:
    model = make_model(server.url)
    forced = {"type": "function", "function": {"name": "ocr"}}
    model.complete_with_tools(MSGS, TOOLS, tool_choice=forced)
    reply = model.complete_with_tools(MSGS, [])
    assert server.requests[0]["json"]["tool_choice"] == forced
    assert "tools" not in server.requests[1]["json"] and "tool_choice" not in server.requests[1]["json"]
    assert reply == ToolReply("Thought: I should count the dogs.", [])  # plain text, no calls


def test_tool_turns_are_sent_in_openai_format(server: FakeServer) -> None:
    messages: list[ChatMessage] = [
        *MSGS,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "name": "ocr", "arguments": {"image": "image-1"}},
                {"id": "c2", "name": "crop", "arguments": '{"image": "image-1", "box": [0, 0'},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"tool": "ocr", "output": {}}'},
        {"role": "tool", "tool_call_id": "c2", "content": "arguments are not valid JSON"},
    ]
    make_model(server.url).complete_with_tools(messages, TOOLS)
    sent = server.requests[0]["json"]["messages"]
    assert sent[2] == {
        "role": "assistant",
        "content": None,  # a reply that only calls tools, as OpenAI itself sends it
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "ocr", "arguments": '{"image": "image-1"}'},
            },
            # invalid JSON would fail the server's chat template: sent as {}, the tool message says why
            {"id": "c2", "type": "function", "function": {"name": "crop", "arguments": "{}"}},
        ],
    }
    assert sent[3] == {"role": "tool", "tool_call_id": "c1", "content": '{"tool": "ocr", "output": {}}'}
    assert sent[4]["tool_call_id"] == "c2"


def test_a_tool_message_without_call_id_is_a_caller_bug(server: FakeServer) -> None:
    bad: list[ChatMessage] = [*MSGS, {"role": "tool", "content": "orphan"}]
    with pytest.raises(LLMError, match="tool_call_id"):
        make_model(server.url).complete_with_tools(bad, TOOLS)
    assert server.requests == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"image": "image-1", "box": [0, 0', '{"image": "image-1", "box": [0, 0'),  # cut off: kept raw
        ("{'image': 'image-1'}", "{'image': 'image-1'}"),  # Python-style: kept raw
        ("[1, 2]", "[1, 2]"),  # JSON, but not an object: kept raw
        ('"{\\"image\\": \\"image-1\\"}"', '"{\\"image\\": \\"image-1\\"}"'),  # encoded twice: kept raw
        ("", {}),
        (None, {}),
        ({"image": "image-2"}, {"image": "image-2"}),  # servers that send the object itself
    ],
)
def test_arguments_are_decoded_or_kept_raw(server: FakeServer, arguments: Any, expected: Any) -> None:
    server.replies.append(Reply(200, tool_completion([call("c1", "ocr", arguments)])))
    reply = make_model(server.url).complete_with_tools(MSGS, TOOLS)
    assert reply.content == ""
    assert reply.tool_calls == [ToolCall("c1", "ocr", expected)]


def test_missing_and_duplicate_call_ids_are_made_unique(server: FakeServer) -> None:
    calls = [call(None, "ocr", "{}"), call("x", "ocr", "{}"), call("x", "ocr", "{}"), call("", "ocr", "{}")]
    server.replies.append(Reply(200, tool_completion(calls)))
    reply = make_model(server.url).complete_with_tools(MSGS, TOOLS)
    assert [c.id for c in reply.tool_calls] == ["call_0", "x", "x_2", "call_3"]


def test_legacy_function_call_is_read_as_one_tool_call(server: FakeServer) -> None:
    message = {"role": "assistant", "content": None, "function_call": {"name": "ocr", "arguments": "{}"}}
    server.replies.append(Reply(200, {"choices": [{"message": message}]}))
    reply = make_model(server.url).complete_with_tools(MSGS, TOOLS)
    assert reply.tool_calls == [ToolCall("call_0", "ocr", {})]


@pytest.mark.parametrize(
    "body",
    [
        tool_completion([{"type": "function", "function": {"arguments": "{}"}}]),  # no name
        tool_completion(["ocr"]),  # type: ignore[list-item]
        {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": {"id": "c1"}}}]},
        {"choices": [{"message": {"role": "assistant", "content": [{"type": "text"}]}}]},
        {"choices": []},
    ],
)
def test_malformed_tool_replies_raise_llm_error(server: FakeServer, body: Any) -> None:
    server.replies.append(Reply(200, body))
    with pytest.raises(LLMError) as info:
        make_model(server.url).complete_with_tools(MSGS, TOOLS)
    assert not isinstance(info.value, ToolsUnsupported)
    assert server.url in str(info.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, {"message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser'}),
        (400, "registry.ollama.ai/library/gemma:2b does not support tools"),
        (500, {"code": 500, "message": "tools param requires --jinja flag", "type": "server_error"}),
        (422, {"detail": [{"loc": ["body", "tools"], "msg": "extra fields not permitted"}]}),
    ],
)
def test_servers_refusing_tools_raise_tools_unsupported(server: FakeServer, status: int, error: Any) -> None:
    server.replies.append(Reply(status, {"error": error}))
    with pytest.raises(ToolsUnsupported, match=rf"HTTP {status}.*native_tools: false"):
        make_model(server.url).complete_with_tools(MSGS, TOOLS)
    assert len(server.requests) == 1  # a refusal is not retried, even as a 500


def test_other_errors_of_a_tool_request_stay_llm_errors(server: FakeServer) -> None:
    server.replies += [
        Reply(400, {"error": {"message": "max_tokens is too large"}}),
        Reply(503, {"error": "loading"}),  # retried, then answered
    ]
    model = make_model(server.url)
    with pytest.raises(LLMError) as info:
        model.complete_with_tools(MSGS, TOOLS)
    assert not isinstance(info.value, ToolsUnsupported) and "max_tokens is too large" in str(info.value)
    assert model.complete_with_tools(MSGS, TOOLS).content == "Thought: I should count the dogs."
    assert len(server.requests) == 3


def test_text_requests_never_raise_tools_unsupported(server: FakeServer) -> None:
    server.replies.append(Reply(400, {"error": "tool_call_id is missing"}))
    with pytest.raises(LLMError) as info:
        make_model(server.url).complete(MSGS)
    assert not isinstance(info.value, ToolsUnsupported)


def test_native_tools_switched_off_sends_nothing(server: FakeServer) -> None:
    model = make_model(server.url, native_tools=False)
    assert model.supports_tools is False and not supports_native_tools(model)
    with pytest.raises(ToolsUnsupported, match="native_tools: false"):
        model.complete_with_tools(MSGS, TOOLS)
    assert server.requests == []
    assert model.complete(MSGS) == "Thought: I should count the dogs."  # text mode still works


def test_backends_without_tool_calling_are_not_tool_models() -> None:
    assert not supports_native_tools(ScriptedChatModel(["Final Answer: x"]))
    assert ToolCall("c", "ocr", {"a": 1}).to_dict() == {"id": "c", "name": "ocr", "arguments": {"a": 1}}


def test_content_with_calls_and_plain_answers(server: FakeServer) -> None:
    server.replies.append(Reply(200, completion("The sign says STOP.")))
    reply = make_model(server.url).complete_with_tools(MSGS, TOOLS)
    assert reply == ToolReply("The sign says STOP.", [])
