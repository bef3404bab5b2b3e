"""Native tool calling: function specs, tool replies, transcript entries, and runs through the SDK."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest
from pydantic import BaseModel, Field

from experts.base import Expert, ImageRef
from experts.registry import load_expert_class
from llm.base import ChatMessage, ToolCall, ToolReply, ToolsUnsupported
from orchestrator.agent.context import RunContext
from orchestrator.agent.parser import ParseError, parse_turn
from orchestrator.agent.tool_calling import (
    NATIVE_OFF,
    ToolAction,
    ask_controller,
    parse_tool_reply,
    pending_calls,
    tool_specs,
)
from orchestrator.agent.transcript import (
    assistant_entry,
    call_results,
    entry_text,
    to_chat_messages,
    to_text_messages,
    tool_entry,
)
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue

LIGHT_EXPERTS = ["ocr", "crop", "resize", "draw_boxes", "overlay_mask", "canny"]
VALID_ARGUMENTS = {
    "ocr": {"image": "image-1"},
    "crop": {"image": "image-1", "box": [0, 0, 8, 8], "padding": 2},
    "resize": {"image": "image-1", "width": 32},
    "draw_boxes": {"image": "image-1", "boxes": [[0, 0, 4, 4]], "labels": ["a"]},
    "overlay_mask": {"image": "image-1", "mask": "mask-1", "alpha": 0.5},
    "canny": {"image": "image-1", "low_threshold": 50},
}


def reply(*calls: ToolCall, content: str = "") -> ToolReply:
    return ToolReply(content, list(calls))


def final(answer: str, call_id: str = "f") -> ToolReply:
    return reply(ToolCall(call_id, "final_answer", {"answer": answer}))


def catalogue_of(experts: dict[str, type[Expert]]) -> ExpertCatalogue:
    catalogue = ExpertCatalogue()
    for name, cls in experts.items():
        catalogue.add(DeployedExpert(name, cls, handle=None, app_name=f"test-{name}", timeout_s=5))  # type: ignore[arg-type]
    return catalogue


def functions(specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    assert all(spec["type"] == "function" for spec in specs)
    return {spec["function"]["name"]: spec["function"] for spec in specs}


def assert_valid_conversation(messages: list[ChatMessage]) -> None:
    """What OpenAI enforces: each tool_calls message is followed by exactly one tool message per id."""
    waiting: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in waiting, f"tool message answers no open call: {message}"
            waiting.discard(message["tool_call_id"])
            continue
        assert not waiting, f"calls {waiting} have no tool message before {message}"
        ids = [c["id"] for c in message.get("tool_calls", [])]
        assert len(ids) == len(set(ids))
        waiting = set(ids)
    assert not waiting


# -- tool_specs ------------------------------------------------------------------------------------------
def test_every_light_expert_becomes_a_valid_function_spec():
    jsonschema = pytest.importorskip("jsonschema")
    classes = {name: load_expert_class(name) for name in LIGHT_EXPERTS}
    specs = functions(tool_specs(catalogue_of(classes)))
    assert list(specs) == [*sorted(LIGHT_EXPERTS), "final_answer", "plan"]
    for name, cls in classes.items():
        spec = specs[name]
        assert spec["description"] == cls.description.strip()
        parameters = spec["parameters"]
        jsonschema.Draft202012Validator.check_schema(parameters)
        assert parameters["type"] == "object" and "$ref" not in json.dumps(parameters)
        assert set(parameters["required"]) == {
            n for n, f in cls.Input.model_fields.items() if f.is_required()
        }
        jsonschema.validate(VALID_ARGUMENTS[name], parameters)  # what the expert accepts, the schema accepts
        cls.Input.model_validate(VALID_ARGUMENTS[name])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({}, parameters)
    crop = specs["crop"]["parameters"]["properties"]
    assert crop["box"]["minItems"] == 4 and "title" not in crop["box"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"image": "image-1", "box": [0, 0, 8]}, specs["crop"]["parameters"])
    step = specs["plan"]["parameters"]["properties"]["steps"]["items"]
    assert step["properties"]["tool"]["enum"] == sorted(LIGHT_EXPERTS)
    jsonschema.validate({"answer": "done"}, specs["final_answer"]["parameters"])


class Point(BaseModel):
    x: int = Field(ge=0, description="column")
    y: int = Field(ge=0)


class Region(BaseModel):
    title: str = Field(description="a property named 'title' is kept")
    corners: list[Point] = Field(min_length=1)
    shape: Literal["box", "polygon"] = "box"


class Annotate(Expert):
    name = "annotate"
    description = "Draws labelled regions on an image (test expert with nested models)."

    class Input(BaseModel):
        image: ImageRef
        regions: list[Region]
        anchor: Point | None = None

    class Output(BaseModel):
        count: int

    def run(self, inputs: Input) -> Output:
        return self.Output(count=len(inputs.regions))


class Node(BaseModel):
    children: list[Node] = []


class Recursive(Expert):
    name = "recursive"
    description = "Takes a recursive tree (cannot become a flat function schema)."

    class Input(BaseModel):
        tree: Node

    class Output(BaseModel):
        ok: bool

    def run(self, inputs: Input) -> Output:
        return self.Output(ok=True)


def test_nested_models_are_inlined_into_plain_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    assert "$defs" in Annotate.argument_schema()
    parameters = functions(tool_specs(catalogue_of({"annotate": Annotate})))["annotate"]["parameters"]
    text = json.dumps(parameters)
    assert "$ref" not in text and "$defs" not in text
    jsonschema.Draft202012Validator.check_schema(parameters)
    region = parameters["properties"]["regions"]["items"]
    assert set(region["properties"]) == {"title", "corners", "shape"}
    assert region["properties"]["corners"]["items"]["properties"]["x"] == {
        "type": "integer",
        "minimum": 0,
        "description": "column",
    }
    good = {"image": "image-1", "regions": [{"title": "a", "corners": [{"x": 1, "y": 2}]}], "anchor": None}
    jsonschema.validate(good, parameters)
    Annotate.Input.model_validate(good)
    good["regions"][0]["corners"][0]["x"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(good, parameters)


def test_bad_expert_names_and_recursive_schemas_are_refused():
    crop = load_expert_class("crop")
    for name in ("final_answer", "plan"):
        with pytest.raises(ValueError, match="rename the expert"):
            tool_specs(catalogue_of({name: crop}))
    with pytest.raises(ValueError, match=r"'recursive'.*recursive"):
        tool_specs(catalogue_of({"recursive": Recursive}))
    assert "plan" not in functions(tool_specs(catalogue_of({"crop": crop}), plan=False))


# -- parse_tool_reply ------------------------------------------------------------------------------------
def test_tool_calls_become_actions_with_their_call_ids():
    box = {"image": "image-1", "box": [0, 0, 4, 4]}
    parsed = parse_tool_reply(
        reply(
            ToolCall("c1", "crop", box), ToolCall("c2", "resize", "{}"), content="Thought: crop, then resize"
        )
    )
    assert parsed.thought == "crop, then resize" and parsed.final_answer is None and parsed.plan is None
    assert parsed.actions == [ToolAction("crop", box, "c1"), ToolAction("resize", {}, "c2")]
    assert [c["call_id"] for c in pending_calls(parsed)] == ["c1", "c2"]
    text_turn = parse_turn('Action: ocr\nAction Input: {"image": "image-1"}')
    assert pending_calls(text_turn)[0].keys() == {"tool", "arguments", "thought"}


@pytest.mark.parametrize(
    ("given", "answer", "repairs"),
    [
        (reply(ToolCall("c", "final_answer", {"answer": " It says STOP. "})), "It says STOP.", []),
        (reply(content="The sign says STOP."), "The sign says STOP.", []),
        (reply(content="Thought: done\nFinal Answer: STOP"), "STOP", ["no function call"]),
        (reply(ToolCall("c", "final_answer", {"text": "STOP"})), "STOP", ["'text' argument"]),
        (reply(ToolCall("c", "functions.Final_Answer", '{"answer": "x"}')), "x", ["read function"]),
    ],
)
def test_final_answers(given, answer, repairs):
    parsed = parse_tool_reply(given)
    assert parsed.final_answer == answer and parsed.actions == []
    for note in repairs:
        assert any(note in r for r in parsed.repairs), parsed.repairs


def test_plan_calls_and_ambiguous_replies():
    steps = [{"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}}]
    parsed = parse_tool_reply(reply(ToolCall("p", "plan", {"steps": steps})))
    assert json.loads(parsed.plan or "") == steps and parsed.actions == []
    # Issue 8 §8: expert calls with a final answer (or a plan) are not resolved silently
    for second in (ToolCall("f", "final_answer", {"answer": "x"}), ToolCall("p", "plan", {"steps": steps})):
        with pytest.raises(ParseError, match="reply with one of them") as info:
            parse_tool_reply(reply(ToolCall("a", "ocr", {}), second))
        assert "expert and '" in str(info.value)
    with pytest.raises(ParseError, match="'plan' and 'final_answer' calls at once"):
        parse_tool_reply(
            reply(ToolCall("p", "plan", {"steps": steps}), ToolCall("f", "final_answer", {"answer": "x"}))
        )
    text = 'Thought: t\nAction: ocr\nAction Input: {"image": "image-1"}'
    text_action = parse_tool_reply(reply(content=text))
    assert text_action.actions[0] == parse_turn(text).actions[0]
    assert not isinstance(text_action.actions[0], ToolAction)  # observed as text, like the text format


def test_double_encoded_arguments_are_repaired():
    raw = json.dumps(json.dumps({"image": "image-1"}))
    parsed = parse_tool_reply(reply(ToolCall("c", "ocr", raw)))
    assert parsed.actions[0].arguments == {"image": "image-1"}
    assert any("JSON-encoded twice" in r for r in parsed.repairs)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (reply(ToolCall("c", "crop", '{"image": "image-1", "box": [0, 0')), "'crop' call.*cut off"),
        (reply(ToolCall("c", "crop", "{'image': 'image-1'}")), "not valid JSON.*'image-1'"),
        (reply(ToolCall("c", "crop", "[1, 2]")), "must be a JSON object.*not a list"),
        (
            reply(ToolCall("c", "crop", {"box": [0, 0, 2**64, 5]})),
            "'crop' call cannot be used.*has 20 digits",
        ),
        (reply(ToolCall("c", "crop", {"a": {1: 2}})), "'crop' call cannot be used.*not a string"),
        (reply(ToolCall("c", "crop", '{"a": "\\ud800"}')), "'crop' call cannot be used.*surrogate"),
        (reply(ToolCall("c", "final_answer", {"answer": ""})), "final_answer call has no answer"),
        (reply(content="  "), "reply was empty"),
        (
            reply(content="Thought: hmm"),
            "(?s)neither an 'Action:'.*Or, instead: Call the experts as functions",
        ),
    ],
)
def test_unusable_replies_raise_corrective_parse_errors(given, message):
    with pytest.raises(ParseError, match=message) as info:
        parse_tool_reply(given)
    assert "final_answer" in str(info.value)  # the correction says how to finish, too


# -- transcript entries ----------------------------------------------------------------------------------
def native_transcript() -> list[dict[str, Any]]:
    """A task, a native turn with two calls (one malformed, corrected), the retry, and the answer."""
    first = reply(
        ToolCall("c1", "ocr", {"image": "image-1"}), ToolCall("c2", "crop", '{"image": '), content="two calls"
    )
    a1 = assistant_entry(first)
    a2 = assistant_entry(reply(ToolCall("c3", "crop", {"image": "image-1", "box": [0, 0, 4, 4]})))
    a3 = assistant_entry(final("STOP", "c4"))
    return [
        {"role": "user", "content": "Task: read it"},
        a1,
        *call_results(a1, "Observation: your last reply could not be used."),
        a2,
        tool_entry("c3", '{"tool": "crop", "output": {"image": {"handle": "image-2"}}}'),
        a3,
        *call_results(a3, "The answer was given to the user."),
        {"role": "user", "content": "Task: and now?"},
    ]


def test_transcript_entries_are_plain_json_and_rebuild_the_conversation():
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    transcript = native_transcript()
    serde = JsonPlusSerializer()
    stored = serde.loads_typed(serde.dumps_typed(json.loads(json.dumps(transcript))))
    assert stored == transcript
    messages = to_chat_messages(stored)
    assert_valid_conversation(messages)
    roles = ["user", "assistant", "tool", "tool", "assistant", "tool", "assistant", "tool", "user"]
    assert [m["role"] for m in messages] == roles
    assert messages[1] == {
        "role": "assistant",
        "content": "two calls",
        "tool_calls": [
            {"id": "c1", "name": "ocr", "arguments": {"image": "image-1"}},
            {"id": "c2", "name": "crop", "arguments": '{"image": '},  # kept raw for the record
        ],
    }
    assert messages[5] == {"role": "tool", "tool_call_id": "c3", "content": transcript[5]["content"]}
    assert to_chat_messages(to_chat_messages(stored)) == messages  # rebuilding is stable


def test_missing_results_are_answered_and_stray_results_become_observations():
    a = assistant_entry(reply(ToolCall("x", "ocr", {}), ToolCall("y", "final_answer", {"answer": "a"})))
    task = {"role": "user", "content": "Task: t"}
    messages = to_chat_messages([a, tool_entry("x", "ocr output"), tool_entry("zzz", "stray"), task])
    assert_valid_conversation(messages)
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": "y",
        "content": "The final answer was given to the user.",
    }
    assert messages[3] == {"role": "user", "content": "Observation: stray"}
    dangling = to_chat_messages([task, a])  # a run that stopped after think
    assert_valid_conversation(dangling)


def test_text_mode_reads_native_turns_in_the_text_format():
    transcript = native_transcript()
    messages = to_text_messages(transcript)
    assert all(set(m) == {"role", "content"} and m["role"] != "tool" for m in messages)
    assert messages[1]["content"] == (
        'Thought: two calls\nAction: ocr\nAction Input: {"image": "image-1"}\n'
        'Action: crop\nAction Input: {"image": '
    )
    assert messages[2]["content"].startswith("Observation 1: Observation: your last reply")
    assert (
        messages[4]["content"] == 'Observation: {"tool": "crop", "output": {"image": {"handle": "image-2"}}}'
    )
    assert parse_turn(messages[5]["content"]).final_answer == "STOP"
    # The text rendering of a native turn parses back to the same calls.
    native = reply(ToolCall("a", "crop", {"image": "image-1", "box": [1, 2, 3, 4]}), content="look")
    again = parse_turn(entry_text(assistant_entry(native)))
    assert [(a.tool, a.arguments) for a in again.actions] == [
        (a.tool, a.arguments) for a in parse_tool_reply(native).actions
    ]


# -- asking the controller -------------------------------------------------------------------------------
class ToolModel:
    """A scripted tool-calling controller: replays ToolReplies (or raises), text replies for text mode.

    Every native request is checked the way OpenAI checks it (tool messages answer open calls).
    """

    label = "scripted tool-calling replay"
    is_replay = True
    supports_tools = True

    def __init__(
        self,
        replies: list[ToolReply | Exception | Callable[[list[ChatMessage]], ToolReply]],
        text: list[str] | None = None,
    ) -> None:
        self.replies, self.text = list(replies), list(text or [])
        self.requests: list[tuple[list[ChatMessage], list[dict[str, Any]]]] = []
        self.text_requests: list[list[ChatMessage]] = []

    def complete_with_tools(self, messages, tools, *, tool_choice="auto") -> ToolReply:
        assert_valid_conversation(messages)
        self.requests.append((json.loads(json.dumps(messages)), tools))
        entry = self.replies.pop(0)
        if isinstance(entry, Exception):
            raise entry
        return entry(messages) if callable(entry) else entry

    def complete(self, messages, *, stop=None) -> str:
        assert all(m["role"] != "tool" and "tool_calls" not in m for m in messages)
        self.text_requests.append(messages)
        return self.text.pop(0)


def context(model: Any) -> RunContext:
    catalogue = catalogue_of({"crop": load_expert_class("crop")})
    return RunContext(model, catalogue, None, "system prompt", 4, 1, None)  # type: ignore[arg-type]


def test_ask_controller_uses_tools_then_falls_back_to_text_for_the_run():
    transcript = native_transcript()[:5]
    model = ToolModel([ToolReply("ok", []), ToolsUnsupported("no tools here")], text=["Final Answer: a", "x"])
    ctx = context(model)
    assert ask_controller(ctx, transcript) == ToolReply("ok", [])
    messages, tools = model.requests[0]
    assert messages[0] == {"role": "system", "content": "system prompt"}
    assert messages[1:] == json.loads(json.dumps(to_chat_messages(transcript)))
    assert [t["function"]["name"] for t in tools] == ["crop", "final_answer", "plan"]
    assert ask_controller(ctx, transcript) == "Final Answer: a"  # refused: asked again in text
    assert "no tools here" in ctx.extra[NATIVE_OFF]
    assert ask_controller(ctx, transcript) == "x"  # and in text for the rest of the run
    assert len(model.requests) == 2 and len(model.text_requests) == 2  # one answered, one refused
    assert model.text_requests[0][1:] == to_text_messages(transcript)


# -- through memory and the SDK ----------------------------------------------------------------------


def test_compacted_sessions_keep_native_turns_valid():
    from orchestrator.agent.memory import controller_view, estimate_tokens

    transcript: list[dict[str, Any]] = []
    runs, steps = [], []
    artifacts = {"image-1": {"handle": "image-1", "kind": "image", "shape": [64, 48], "producer": "input"}}
    for i in range(12):
        read = assistant_entry(reply(ToolCall(f"c{i}", "ocr", {"image": "image-1"}), content=f"reading {i}"))
        done = assistant_entry(final(f"it says {i}", f"f{i}"))
        output = {
            "tool": "ocr",
            "output": {"lines": {"handle": f"boxes-{i + 1}", "count": 1}, "text": "x" * 500},
        }
        run_id = f"run-{i}"
        runs.append(
            {
                "run_id": run_id,
                "task": f"read sign {i}",
                "inputs": ["image-1"] if i == 0 else [],
                "transcript_start": len(transcript),
                "status": "answered",
                "answer": f"it says {i}",
            }
        )
        steps.append(
            {"run_id": run_id, "tool": "ocr", "observation": json.dumps(output), "error": None}
            | {"new_handles": [f"boxes-{i + 1}"]}
        )
        artifacts[f"boxes-{i + 1}"] = {"handle": f"boxes-{i + 1}", "kind": "boxes", "shape": [1]}
        transcript += [
            {"role": "user", "content": f"Task: read sign {i}\n\nArtifacts available now:\n- image-1: image"},
            read,
            tool_entry(f"c{i}", json.dumps(output)),
            done,
            *call_results(done, "The answer was given to the user."),
        ]
    state = {"transcript": transcript, "runs": runs, "steps": steps, "artifacts": artifacts}
    view = controller_view(state, 500)  # type: ignore[arg-type]
    assert estimate_tokens(view) < estimate_tokens(transcript) / 2  # type: ignore[arg-type]
    messages = to_chat_messages(view)
    assert_valid_conversation(messages)
    assert [c["id"] for c in messages[-4]["tool_calls"]] == ["c11"]  # the current run stays native
    summary = view[0]["content"]
    assert summary.startswith("Earlier in this session (summary)")
    assert (
        '- Task 1 "read sign 0": tools ocr; inputs image-1; produced boxes-1 → answered: it says 0' in summary
    )
    shortened = [m["content"] for m in view if m["role"] == "tool" and "[shortened]" in m["content"]]
    assert shortened and all(re.fullmatch(r"ocr → boxes-\d+ \(1 item\) \[shortened\]", c) for c in shortened)


def picture() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)


@pytest.mark.ray
def test_native_calls_run_and_each_call_gets_its_observation(orch):
    first = reply(
        ToolCall("c1", "crop", {"image": "image-1", "box": [0, 0, 16, 8]}),
        ToolCall("c2", "resize", {"image": "image-1", "width": 32}),
        ToolCall("c3", "nonexistent", {"image": "image-1"}),
    )
    model = ToolModel([first, final("image-2 and image-3")])
    result = orch.run("crop and shrink", images=[picture()], chat_model=model)
    assert result.ok, result.failure
    assert result.answer == "image-2 and image-3"
    assert [s.tool for s in result.steps] == ["crop", "resize", "nonexistent", None]
    assert result.artifacts["image-2"].shape == [16, 8] and result.artifacts["image-3"].shape == [32, 24]
    messages, tools = model.requests[1]
    assert {t["function"]["name"] for t in tools} >= {"crop", "resize", "final_answer", "plan"}
    assistant, *answers = messages[-4:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["c1", "c2", "c3"]
    assert [(m["role"], m.get("tool_call_id")) for m in answers] == [("tool", f"c{i}") for i in (1, 2, 3)]
    assert [m["content"] for m in answers] == [s.observation for s in result.steps[:3]]
    assert json.loads(answers[0]["content"])["output"]["image"]["handle"] == "image-2"
    assert "there is no expert 'nonexistent'" in answers[2]["content"]


@pytest.mark.ray
def test_malformed_arguments_are_corrected_through_the_call_and_the_session_continues(orch):
    bad = reply(ToolCall("c1", "crop", '{"image": "image-1", "box": [0, 0,'))
    good = reply(ToolCall("c2", "crop", {"image": "image-1", "box": [0, 0, 4, 4]}))
    model = ToolModel([bad, good, final("done")])
    result = orch.run("crop", images=[picture()], chat_model=model, session="native-tools-session")
    assert result.ok, result.failure
    correction = model.requests[1][0][-1]
    assert correction["role"] == "tool" and correction["tool_call_id"] == "c1"
    assert "cut off" in correction["content"] and '"box": [0, 0,' in correction["content"]
    assert "unparseable" in (result.steps[0].error or "")
    follow_up = ToolModel([final("still image-2", "f2")])
    again = orch.run("what did you make?", chat_model=follow_up, session="native-tools-session")
    assert again.ok and again.answer == "still image-2"
    history = follow_up.requests[0][0]  # the whole earlier run, rebuilt as a valid conversation
    assert sum(1 for m in history if m.get("tool_calls")) == 3


@pytest.mark.ray
def test_refused_tools_fall_back_to_the_text_format(orch):
    model = ToolModel(
        [ToolsUnsupported("HTTP 400: tools are not supported")],
        text=[
            'Thought: t\nAction: crop\nAction Input: {"image": "image-1", "box": [0, 0, 4, 4]}',
            "Final Answer: ok",
        ],
    )
    result = orch.run("crop", images=[picture()], chat_model=model)
    assert result.ok and result.answer == "ok"
    assert len(model.requests) == 1 and len(model.text_requests) == 2  # refused once, then text only
    assert model.text_requests[1][-1]["content"].startswith("Observation: ")


@pytest.mark.ray
def test_a_native_plan_call_runs_in_waves(orch):
    crop = {"image": "<step-0>", "box": [0, 0, 8, 8]}
    steps = [
        {"id": 0, "tool": "canny", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "crop", "arguments": crop, "dependencies": [0]},
    ]
    model = ToolModel([reply(ToolCall("p", "plan", {"steps": steps})), reply(content="image-3")])
    result = orch.run("edges, then crop", images=[picture()], chat_model=model)
    assert result.ok, result.failure
    assert [s.tool for s in result.steps if s.tool] == ["canny", "crop"]
    assert result.artifacts["image-3"].parents == ["image-2"]
    messages = model.requests[1][0]
    plan_answer = next(m for m in messages if m.get("tool_call_id") == "p")
    assert plan_answer["content"].startswith("plan accepted: 2 steps in 2 waves")
    assert "Observation (plan step 1)" in messages[-1]["content"]
