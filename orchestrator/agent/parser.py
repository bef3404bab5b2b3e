"""Parse the controller's MM-ReAct turn: Thought / Action / Action Input / Final Answer.

Tolerates the usual LLM slips, noting each repair in ``ParsedTurn.repairs``; raises only
:class:`ParseError`, whose message corrects the controller. Every step is linear in the input.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Action", "ParseError", "ParsedTurn", "parse_turn"]


@dataclass(frozen=True)
class Action:
    """One tool call the controller asked for."""

    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ParsedTurn:
    """A parsed controller turn: actions to run, or a final answer."""

    thought: str
    actions: list[Action] = field(default_factory=list)
    final_answer: str | None = None
    repairs: list[str] = field(default_factory=list)
    plan: str | None = None


class ParseError(ValueError):
    """The turn could not be understood; ``str(err)`` is a corrective message for the controller."""


FORMAT_HELP = (
    "Reply in exactly one of these formats:\n"
    "Thought: <your reasoning>\nAction: <tool_name>\n"
    'Action Input: {"argument": "value"}\n'
    "or\n"
    "Thought: <your reasoning>\nFinal Answer: <your answer>"
)
TOOL_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Single character classes on either side of the label word keep backtracking linear.
_LABEL = re.compile(
    r"[ \t>#*_-]*(thought|action[ _]?input|input|action|final[ _]?answer|plan|observation)"
    r"[ \t*_]*:(?:[*_]+(?=\s|$))?[ \t]*",
    re.IGNORECASE,
)
_CANONICAL = {
    "thought": "Thought",
    "action": "Action",
    "input": "Action Input",
    "final": "Final Answer",
    "plan": "Plan",
}
_FENCE_OPEN = re.compile(r"```[\w+.-]*[ \t]*\n?")


def _fail(problem: str) -> ParseError:
    """Build a ParseError: the problem, then the expected format."""
    return ParseError(f"{problem}\n{FORMAT_HELP}")


def _short(text: str, limit: int = 40) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters so error messages stay short."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _label(line: str) -> tuple[str, str, list[str]] | None:
    """Match a label at the start of ``line``; return (kind, rest of the line, repair notes)."""
    m = _LABEL.match(line)
    if m is None:
        return None
    word = m.group(1)
    low = word.lower()
    kind = "input" if low.endswith("input") else re.split(r"[ _]", low)[0]
    canonical = _CANONICAL.get(kind, "Observation")
    notes = []
    if low.replace("_", " ") != canonical.lower():
        notes.append(f"read {word!r} as {canonical!r}")
    elif word != canonical:
        notes.append("normalised label case")
    if m.group(0).strip(" \t:") != word:
        notes.append("removed markdown around labels")
    return kind, line[m.end() :], notes


def _split(text: str, repairs: list[str]) -> list[tuple[str, str]]:
    """Cut the reply into (label kind, stripped text) blocks; a Final Answer runs on until an Action."""
    blocks: list[tuple[str, list[str]]] = [("preamble", [])]
    for line in text.split("\n"):
        found = _label(line)
        if found is not None and found[0] == "observation":
            repairs.append("ignored a hallucinated Observation and everything after it")
            break
        if found is None or (blocks[-1][0] in ("final", "plan") and found[0] != "action"):
            blocks[-1][1].append(line)
        else:
            repairs.extend(found[2])
            blocks.append((found[0], [found[1]]))
    return [(kind, "\n".join(lines).strip()) for kind, lines in blocks]


def _scan_object(s: str) -> tuple[str, int, bool]:
    """Take the balanced object that ``s`` starts with, honouring quotes and dropping trailing commas.

    Returns (object text, end index in ``s``, whether the object closed).
    """
    out: list[str] = []
    depth, quote, escaped = 0, "", False
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        elif c == ",":
            j = i + 1
            while j < n and s[j].isspace():
                j += 1
            if j < n and s[j] in "}]":
                i = j
                continue
        out.append(c)
        i += 1
        if depth == 0:
            break
    return "".join(out), i, depth == 0


def _jsonable(value: Any) -> Any:
    """Check a literal_eval result is JSON data (tuples become lists); raise TypeError otherwise."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)


def _arguments(raw: str, tool: str, repairs: list[str]) -> dict[str, Any]:
    """Parse an Action Input into the tool's argument dict, repairing what can be repaired."""
    s = raw.strip()
    fence = _FENCE_OPEN.match(s)
    if fence is not None:
        s = s[fence.end() :]
        s = s[: s.find("```")] if "```" in s else s
        repairs.append("removed code fence around Action Input")
    elif s.startswith("`"):
        s = s.strip("`")
        repairs.append("removed backticks around Action Input")
    s = s.strip()
    if not s.startswith("{"):
        raise _fail(
            f"Action Input for {_short(tool)} must be a JSON object of the tool's arguments, "
            f'e.g. {{"image": "image-1"}}, not {_short(s)}.'
        )
    try:
        value, end = json.JSONDecoder().raw_decode(s)
    except (ValueError, RecursionError):
        obj, end, closed = _scan_object(s)
        try:
            value = json.loads(obj)
            repairs.append("removed trailing commas in Action Input")
        except (ValueError, RecursionError) as err:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    value = _jsonable(ast.literal_eval(obj))
                repairs.append("read Action Input as a Python-style dict")
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                why = getattr(err, "msg", "it is nested too deeply")
                why = why if closed else "it is incomplete"
                raise _fail(f"Action Input for {_short(tool)} is not a valid JSON object ({why}).") from None
    if s[end:].strip():
        repairs.append("ignored text after the Action Input JSON")
    return value


def _tool_name(line: str, repairs: list[str]) -> str:
    """Normalise the text after ``Action:`` to a tool name; raise ParseError when it is not one."""
    raw = line.strip()
    name = raw.strip("`'\"*. ")
    if name.endswith("()"):
        name = name[:-2].strip("`'\"*. ")
    if name != raw:
        repairs.append(f"cleaned tool name {_short(raw)} to {name!r}")
    if name != name.lower():
        name = name.lower()
        repairs.append("lowercased the tool name")
    if not TOOL_NAME.fullmatch(name):
        got = f"{_short(raw)} is not a tool name" if raw else "The 'Action:' line has no tool name"
        raise _fail(f"{got}; write only the tool's name after 'Action:', e.g. 'Action: ocr'.")
    return name


def _actions(blocks: list[tuple[str, str]], repairs: list[str]) -> list[Action]:
    """Pair each Action block with the Action Input that follows it."""
    actions = []
    for i, (kind, text) in enumerate(blocks):
        if kind == "input" and blocks[i - 1][0] != "action":
            repairs.append("ignored an Action Input that had no Action before it")
        if kind != "action":
            continue
        first, _, rest = text.partition("\n")
        tool = _tool_name(first, repairs)
        after = blocks[i + 1] if i + 1 < len(blocks) else None
        if after is not None and after[0] == "input":
            if rest.strip():
                repairs.append("ignored text between Action and Action Input")
            arguments = _arguments(after[1], tool, repairs)
        elif rest.strip().startswith(("{", "`")):
            repairs.append("read the JSON after the Action line as its Action Input")
            arguments = _arguments(rest, tool, repairs)
        elif not rest.strip() and after is None:
            repairs.append(f"no Action Input for {_short(tool)}; used {{}}")
            arguments = {}
        else:
            raise _fail(f"Action {_short(tool)} must be followed by an 'Action Input:' line.")
        actions.append(Action(tool, arguments))
    return actions


def parse_turn(text: str) -> ParsedTurn:
    """Parse one controller reply. Raises :class:`ParseError` when nothing usable is in it."""
    repairs: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise _fail("Your reply was empty.")
    fence = _FENCE_OPEN.match(text)
    if fence is not None and "\n" in fence.group(0):
        text = text[fence.end() :].rstrip()
        text = text[:-3] if text.endswith("```") else text
        repairs.append("removed code fence around the reply")
    blocks = _split(text, repairs)
    actions = _actions(blocks, repairs)
    thoughts = [text for kind, text in blocks if kind == "thought"]
    if not thoughts:
        repairs.append("no Thought given")
    if blocks[0][1]:
        repairs.append("ignored text before the first label")
    finals = [text for kind, text in blocks if kind == "final"]
    plans = [text for kind, text in blocks if kind == "plan" and text]
    final: str | None = None
    if plans and not actions:
        if finals:
            repairs.append("dropped the Final Answer because the reply also has a Plan")
        thought = "\n".join(t for t in thoughts if t)
        return ParsedTurn(thought, [], None, list(dict.fromkeys(repairs)), plan=plans[0])
    if actions and finals:
        repairs.append("dropped the Final Answer because the reply also has actions")
    elif finals:
        final = finals[0]
        if not final:
            raise _fail("Your Final Answer is empty; write the answer after 'Final Answer:'.")
    elif not actions:
        raise _fail("Your reply has neither an 'Action:' line nor a 'Final Answer:' line.")
    thought = "\n".join(t for t in thoughts if t)
    return ParsedTurn(thought, actions, final, list(dict.fromkeys(repairs)))
