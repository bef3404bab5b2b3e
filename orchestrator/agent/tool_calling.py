"""Native tool calling: the same experts and observations as the text format, via ``tools``/``tool_calls``.

Transcript entries stay plain JSON: a native turn's assistant entry carries ``tool_calls``
(``[{"id", "name", "arguments"}]``) and each call is answered by one ``{"role": "tool",
"tool_call_id", "content"}`` entry. :func:`to_chat_messages` rebuilds the next request from them;
:func:`to_text_messages` renders the same transcript for a text-mode controller.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import jsonref

from experts.base import Expert
from llm.base import ChatMessage, LLMError, ToolCall, ToolReply, ToolsUnsupported, supports_native_tools
from orchestrator.agent.context import RunContext
from orchestrator.agent.normalise import NotPlainJSON, clean_text, plain_arguments
from orchestrator.agent.parser import Action, ParsedTurn, ParseError, parse_turn
from orchestrator.agent.transcript import FINAL_ANSWER, PLAN, to_chat_messages, to_text_messages
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue

__all__ = [
    "FINAL_ANSWER",
    "NATIVE_OFF",
    "PLAN",
    "ToolAction",
    "ask_controller",
    "inline_schema",
    "parse_reply",
    "parse_tool_reply",
    "pending_calls",
    "tool_specs",
]

log = logging.getLogger(__name__)

NATIVE_OFF = "native_tools_off"
"""``RunContext.extra`` key set (to the reason) once the backend refused tools: text mode from then on."""

NATIVE_HELP = (
    "Call the experts as functions, with arguments that are a JSON object matching the function's "
    'parameters (e.g. crop with {"image": "image-1", "box": [0, 0, 32, 32]}); call final_answer with '
    '{"answer": "..."} when you can answer.'
)
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TEXT_LABELS = re.compile(r"^[ \t>#*_-]*(thought|action|final[ _]?answer|plan)[ \t*_]*:", re.I | re.M)
_THOUGHT_LABEL = re.compile(r"^[ \t>#*_-]*thought[ \t*_]*:[ \t]*", re.I)
_CALLED = {"expert": "expert", PLAN: f"'{PLAN}'", FINAL_ANSWER: f"'{FINAL_ANSWER}'"}
_ONE_OF = (
    f"expert calls if you still need their outputs, one '{PLAN}' call for the whole task, or only "
    f"'{FINAL_ANSWER}' if you are done"
)
_DATA_KEYWORDS = frozenset({"default", "enum", "const", "examples", "example"})
_SPEC_CACHE: dict[tuple[str, type[Expert], str], str] = {}


@dataclass(frozen=True)
class ToolAction(Action):
    """An action that came from a native tool call; its observation answers ``call_id``."""

    call_id: str = ""


# -- function specs ---------------------------------------------------------------------------------
def inline_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``$ref`` inlined (jsonref), titles, ``$defs`` and null defaults dropped.

    Raises ValueError for a reference that cannot be resolved locally or that refers to itself.
    """
    try:
        resolved = jsonref.replace_refs(
            schema, merge_props=True, proxies=False, lazy_load=False, loader=_no_remote_refs
        )
    except jsonref.JsonRefError as err:
        raise ValueError(
            f"cannot inline schema reference {err.uri!r}: only local $defs are supported"
        ) from None

    def clean(node: Any, path: tuple[int, ...]) -> Any:
        if isinstance(node, list):
            return [clean(item, path) for item in node]
        if not isinstance(node, Mapping):
            return node
        if id(node) in path:
            raise ValueError("a schema reference is recursive; it cannot be inlined")
        inner = (*path, id(node))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "definitions", "title"):
                continue
            if key == "properties" and isinstance(value, Mapping):
                out[key] = {name: clean(sub, inner) for name, sub in value.items()}
            elif key in _DATA_KEYWORDS:
                if not (key == "default" and value is None):
                    out[key] = value
            else:
                out[key] = clean(value, inner)
        return out

    inlined = clean(resolved, ())
    inlined.setdefault("type", "object")
    inlined.setdefault("properties", {})
    return cast(dict[str, Any], inlined)


def _no_remote_refs(uri: str) -> Any:
    raise ValueError(f"{uri} is not a local reference")


def _function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    function = {"name": name, "description": description, "parameters": parameters}
    return {"type": "function", "function": function}


def _object(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def _final_answer_spec() -> dict[str, Any]:
    answer = {"type": "string", "description": "the answer for the user"}
    description = (
        "Finish the task: give the answer for the user, naming the handles of images or masks that show "
        "the result. Call it alone, once you have every observation you need."
    )
    return _function(FINAL_ANSWER, description, _object(["answer"], answer=answer))


def _plan_spec(expert_names: list[str]) -> dict[str, Any]:
    arguments = (
        "the expert's arguments; '<step-k>' stands for step k's output of the kind the argument wants: its "
        "image or mask (all of them for a list), its boxes for a list of boxes, its text for a text; "
        "'<step-k>.field' names a field of that output, '<step-k>.detections[0].box' one item's box"
    )
    step = _object(
        ["id", "tool", "arguments"],
        id={"type": "integer", "description": "the step's number"},
        tool={"type": "string", "enum": expert_names, "description": "the expert to call"},
        arguments={"type": "object", "description": arguments},
        dependencies={"type": "array", "items": {"type": "integer"}, "description": "ids of steps it uses"},
    )
    description = (
        "Run several expert calls as one plan, when the whole sequence is known in advance. Steps whose "
        "dependencies are done run at the same time; you then get one observation per step."
    )
    steps = {"type": "array", "minItems": 1, "items": step}
    return _function(PLAN, description, _object(["steps"], steps=steps))


def tool_specs(catalogue: ExpertCatalogue, *, plan: bool = True) -> list[dict[str, Any]]:
    """One OpenAI function spec per deployed expert, then ``final_answer`` (and ``plan``).

    Raises ValueError for an expert whose name cannot be a function name or is reserved.
    """
    specs = []
    names = catalogue.names()
    for name in names:
        expert = catalogue.get(name)
        assert expert is not None
        if not _FUNCTION_NAME.fullmatch(name) or name in (FINAL_ANSWER, PLAN):
            raise ValueError(
                f"expert name {name!r} cannot be a tool function: use 1-64 letters, digits, '_' or '-', "
                f"and not {FINAL_ANSWER!r} or {PLAN!r}; rename the expert in the config"
            )
        specs.append(_expert_spec(name, expert))
    specs.append(_final_answer_spec())
    if plan:
        specs.append(_plan_spec(names))
    return specs


def _expert_spec(name: str, expert: DeployedExpert) -> dict[str, Any]:
    """An expert's function spec, a fresh copy (its schema is generated once: ~1 ms per expert)."""
    key = (name, expert.expert_cls, json.dumps(expert.settings, sort_keys=True, default=str))
    if key not in _SPEC_CACHE:
        try:
            parameters = inline_schema(expert.argument_schema())
        except ValueError as err:
            raise ValueError(f"expert {name!r}: {err}") from None
        _SPEC_CACHE[key] = json.dumps(_function(name, expert.description, parameters))
    return cast(dict[str, Any], json.loads(_SPEC_CACHE[key]))


# -- parsing a tool reply ---------------------------------------------------------------------------
def _fail(problem: str) -> ParseError:
    return ParseError(f"{problem}\n{NATIVE_HELP}")


def _function_name(raw: str, repairs: list[str]) -> str:
    name = raw.strip().removeprefix("functions.").lower()
    if name != raw:
        repairs.append(f"read function name {raw!r} as {name!r}")
    return name


def _call_arguments(arguments: Any, name: str, repairs: list[str]) -> dict[str, Any]:
    """The call's arguments as a plain-JSON dict; ParseError (quoting the text) when they are not a
    JSON object, or hold values no checkpointer can store."""
    try:
        return plain_arguments(_decoded(arguments, name, repairs), name)
    except NotPlainJSON as err:
        raise _fail(f"Your {name!r} call cannot be used: {err}. Call it again.") from None


def _decoded(arguments: Any, name: str, repairs: list[str]) -> Any:
    if not isinstance(arguments, str):
        return arguments
    text = clean_text(arguments).strip()
    shown = text if len(text) <= 200 else text[:200] + "..."
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as err:
        pos = getattr(err, "pos", 0)
        why = "it is cut off" if pos >= len(text) - 1 else getattr(err, "msg", "it is nested too deeply")
        raise _fail(
            f"The arguments of your {name!r} call are not valid JSON ({why}): {shown!r}. Call it again."
        ) from None
    if isinstance(value, str):
        try:
            inner = json.loads(value)
        except (ValueError, RecursionError):
            inner = None
        if isinstance(inner, dict):
            repairs.append(f"decoded the {name!r} arguments, which were JSON-encoded twice")
            return inner
    if isinstance(value, dict):
        return value
    raise _fail(
        f"The arguments of your {name!r} call must be a JSON object of named arguments, "
        f"not a {type(value).__name__}: {shown!r}."
    )


def _answer(arguments: dict[str, Any], repairs: list[str]) -> str:
    value = arguments.get("answer")
    if value is None and len(arguments) == 1:
        key, value = next(iter(arguments.items()))
        repairs.append(f"read final_answer's {key!r} argument as the answer")
    if value is not None and not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
        repairs.append("wrote a non-text answer as JSON")
    if not value or not value.strip():
        raise _fail('Your final_answer call has no answer; call it with {"answer": "<the answer>"}.')
    return value.strip()


def _parse_content(content: str, observed: Iterable[str]) -> ParsedTurn:
    """A reply without tool calls: the answer, or a turn written in the text format."""
    if not content:
        raise _fail("Your reply was empty.")
    if not _TEXT_LABELS.search(content):
        return ParsedTurn("", [], content)
    try:
        parsed = parse_turn(content, observed)
    except ParseError as err:
        raise ParseError(f"{err}\nOr, instead: {NATIVE_HELP}") from None
    repairs = [*parsed.repairs, "read a text-format turn from the reply text (it made no function call)"]
    return ParsedTurn(parsed.thought, parsed.actions, parsed.final_answer, repairs, parsed.plan)


def parse_tool_reply(reply: ToolReply, observed: Iterable[str] = ()) -> ParsedTurn:
    """The controller turn in a native tool reply.

    Expert calls become :class:`ToolAction` s; a ``plan`` call becomes the plan's JSON text; a
    ``final_answer`` call, or plain text with no call, the final answer. A reply mixing two of these
    (expert calls and ``final_answer``, say) is ambiguous: like an empty reply or arguments that are
    not a JSON object, it raises :class:`ParseError` with a corrective message. ``observed``: texts
    from observations (see :func:`~orchestrator.agent.parser.parse_turn`).
    """
    content = clean_text(reply.content).replace("\r\n", "\n").strip()
    if not reply.tool_calls:
        return _parse_content(content, observed)
    repairs: list[str] = []
    thought = _THOUGHT_LABEL.sub("", content, count=1).strip()
    actions: list[Action] = []
    finals: list[str] = []
    plans: list[str] = []
    for call in reply.tool_calls:
        name = _function_name(clean_text(str(call.name)), repairs)
        arguments = _call_arguments(call.arguments, name, repairs)
        if name == FINAL_ANSWER:
            finals.append(_answer(arguments, repairs))
        elif name == PLAN:
            # validate_plan also reads other shapes ({"plan": [...]}, one step) or says what is wrong
            plans.append(json.dumps(arguments.get("steps", arguments), ensure_ascii=False))
        else:
            actions.append(ToolAction(name, arguments, str(call.id)))
    made = [what for what, found in (("expert", actions), (PLAN, plans), (FINAL_ANSWER, finals)) if found]
    if len(made) > 1:
        raise _fail(
            f"Your reply makes {' and '.join(_CALLED[m] for m in made)} calls at once, so it is unclear what "
            f"to do; reply with one of them: {_ONE_OF}."
        )
    if len(plans or finals) > 1:
        repairs.append(f"used the first of several {PLAN if plans else FINAL_ANSWER} calls")
    repairs = list(dict.fromkeys(repairs))
    if actions:
        return ParsedTurn(thought, actions, None, repairs)
    if plans:
        return ParsedTurn(thought, [], None, repairs, plan=plans[0])
    return ParsedTurn(thought, [], finals[0], repairs)


def parse_reply(reply: str | ToolReply, observed: Iterable[str] = ()) -> ParsedTurn:
    """Parse a text reply (:func:`~orchestrator.agent.parser.parse_turn`) or a native tool reply."""
    return parse_turn(reply, observed) if isinstance(reply, str) else parse_tool_reply(reply, observed)


def pending_calls(parsed: ParsedTurn) -> list[dict[str, Any]]:
    """The turn's actions as pending calls for the act node; native ones keep their ``call_id``."""
    return [
        {"tool": a.tool, "arguments": a.arguments, "thought": parsed.thought}
        | ({"call_id": a.call_id} if isinstance(a, ToolAction) and a.call_id else {})
        for a in parsed.actions
    ]


# -- one controller request -------------------------------------------------------------------------
def ask_controller(ctx: RunContext, transcript: Iterable[Mapping[str, Any]]) -> str | ToolReply:
    """Ask the controller for its next turn: native tool calling when the model supports it, else text.

    A model that refuses tools (:class:`~llm.base.ToolsUnsupported`) is asked in the text format, and
    for the rest of the run (``ctx.extra[NATIVE_OFF]`` holds the reason). Other ``LLMError`` s propagate.
    """
    entries = list(transcript)
    system: ChatMessage = {"role": "system", "content": ctx.system_prompt}
    model = ctx.llm
    if supports_native_tools(model) and not ctx.extra.get(NATIVE_OFF):
        try:
            reply: Any = model.complete_with_tools(
                [system, *to_chat_messages(entries)], tool_specs(ctx.catalogue)
            )
            return _checked(reply, ToolReply)
        except ToolsUnsupported as err:
            ctx.extra[NATIVE_OFF] = str(err) or "the controller refused native tool calls"
            log.warning("native tool calling is off for this run: %s", err)
    return _checked(model.complete([system, *to_text_messages(entries)], stop=["\nObservation:"]), str)


def _checked(reply: Any, expected: type) -> Any:
    """``reply`` if it is what the backend promised, else an LLMError saying what it gave."""
    if not isinstance(reply, expected) or (
        isinstance(reply, ToolReply) and not all(isinstance(c, ToolCall) for c in reply.tool_calls)
    ):
        raise LLMError(
            f"the controller backend returned a {type(reply).__name__}, not a {expected.__name__}: "
            "a backend's complete() returns text, complete_with_tools() a ToolReply"
        )
    return reply
