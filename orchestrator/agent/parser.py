"""Parse the controller's MM-ReAct turn: Thought / Action / Action Input / Final Answer (or Plan).

Tolerates the usual LLM slips, noting each repair in ``ParsedTurn.repairs``; raises only
:class:`ParseError`, whose message corrects the controller. Every step is linear in the input.
A turn must be one thing: actions, a plan, or a final answer; a reply holding two of them is
sent back. An action whose text repeats one found in an observation (an expert read or wrote it,
e.g. OCR of a sign saying "Action: crop ...") is quoted text, never a call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.agent.loose_json import literal, scan_balanced
from orchestrator.agent.normalise import NotPlainJSON, clean_text, plain_json

__all__ = ["Action", "ParseError", "ParsedTurn", "Quoted", "parse_turn", "quoted_actions"]


@dataclass(frozen=True)
class Action:
    """One tool call the controller asked for."""

    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ParsedTurn:
    """A parsed controller turn: actions to run, a plan, or a final answer."""

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
_ACTION_WORD = re.compile(r"action[ \t*_]*:", re.IGNORECASE)
_CANONICAL = {
    "thought": "Thought",
    "action": "Action",
    "input": "Action Input",
    "final": "Final Answer",
    "plan": "Plan",
}
_FENCE_OPEN = re.compile(r"```[\w+.-]*[ \t]*\n?")
_NAMES = {"action": "an Action", "final": "a Final Answer", "plan": "a Plan"}
_CHOOSE = {
    frozenset({"action", "final"}): "the Action if you still need an expert's output, or only the "
    "Final Answer if you are done",
    frozenset({"action", "plan"}): "the Action(s) for the next step, or only the Plan for the whole task",
    frozenset({"plan", "final"}): "the Plan if experts must still run, or only the Final Answer if you "
    "are done",
}


@dataclass
class _Block:
    kind: str
    lines: list[str]
    raw: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip()


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


def _split(text: str, repairs: list[str]) -> list[_Block]:
    """Cut the reply into labelled blocks. A Final Answer runs on until an Action; a Plan ends at
    the next label (its JSON has no labelled lines)."""
    blocks = [_Block("preamble", [], [])]
    for line in text.split("\n"):
        found = _label(line)
        if found is not None and found[0] == "observation":
            repairs.append("ignored a hallucinated Observation and everything after it")
            break
        if found is None or (blocks[-1].kind == "final" and found[0] != "action"):
            blocks[-1].lines.append(line)
            blocks[-1].raw.append(line)
        else:
            repairs.extend(found[2])
            blocks.append(_Block(found[0], [found[1]], [line]))
    return blocks


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
        obj, end, closed = scan_balanced(s)
        try:
            value = json.loads(obj)
            repairs.append("removed trailing commas in Action Input")
        except (ValueError, RecursionError) as err:
            try:
                value = literal(obj)
                if not isinstance(value, dict):
                    raise ValueError("not a dict")
                repairs.append("read Action Input as a Python-style dict")
            except ValueError:
                why = getattr(err, "msg", "it is nested too deeply")
                why = why if closed else "it is incomplete"
                raise _fail(f"Action Input for {_short(tool)} is not a valid JSON object ({why}).") from None
    if s[end:].strip():
        repairs.append("ignored text after the Action Input JSON")
    try:
        return dict(plain_json(value))
    except NotPlainJSON as err:
        raise _fail(f"Action Input for {_short(tool)} cannot be used: {err}.") from None


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


def _action_at(blocks: list[_Block], i: int, repairs: list[str]) -> tuple[Action, int]:
    """The action of the Action block ``blocks[i]`` and the index of its last block."""
    first, _, rest = blocks[i].text.partition("\n")
    tool = _tool_name(first, repairs)
    after = blocks[i + 1] if i + 1 < len(blocks) else None
    if after is not None and after.kind == "input":
        if rest.strip():
            repairs.append("ignored text between Action and Action Input")
        return Action(tool, _arguments(after.text, tool, repairs)), i + 1
    if rest.strip().startswith(("{", "`")):
        repairs.append("read the JSON after the Action line as its Action Input")
        return Action(tool, _arguments(rest, tool, repairs)), i
    if not rest.strip() and after is None:
        repairs.append(f"no Action Input for {_short(tool)}; used {{}}")
        return Action(tool, {}), i
    raise _fail(f"Action {_short(tool)} must be followed by an 'Action Input:' line.")


def _key(action: Action) -> tuple[str, str]:
    return action.tool, json.dumps(action.arguments, sort_keys=True)


def _squeeze(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Quoted:
    """Actions written in texts the experts produced: as (tool, arguments) keys, and the texts
    themselves (for an action too broken to parse, which is quoted when its text is in one)."""

    keys: frozenset[tuple[str, str]] = frozenset()
    texts: tuple[str, ...] = ()

    def holds(self, raw: str) -> bool:
        squeezed = _squeeze(raw)
        return bool(squeezed) and any(squeezed in text for text in self.texts)


def quoted_actions(texts: Iterable[str]) -> Quoted:
    """The actions written inside ``texts`` (what experts read or wrote)."""
    keys: set[tuple[str, str]] = set()
    kept: list[str] = []
    for text in texts:
        if not _ACTION_WORD.search(text):
            continue
        text = clean_text(text).replace("\r\n", "\n").replace("\r", "\n")
        kept.append(_squeeze(text))
        blocks = _split(text, [])
        for i, block in enumerate(blocks):
            if block.kind == "action":
                try:
                    keys.add(_key(_action_at(blocks, i, [])[0]))
                except ParseError:
                    continue
    return Quoted(frozenset(keys), tuple(kept))


def _actions(
    blocks: list[_Block], repairs: list[str], quoted: Quoted | None
) -> tuple[list[Action], list[str]]:
    """Pair each Action block with the Action Input that follows it. Actions quoted from an
    observation are dropped; their text is returned so a Final Answer they interrupted keeps it."""
    actions: list[Action] = []
    dropped: list[str] = []
    skip_to = -1
    for i, block in enumerate(blocks):
        if i <= skip_to:
            continue
        if block.kind == "input":
            repairs.append("ignored an Action Input that had no Action before it")
        if block.kind != "action":
            continue
        end = i + 1 if i + 1 < len(blocks) and blocks[i + 1].kind == "input" else i
        raw = "\n".join(line for b in blocks[i : end + 1] for line in b.raw)
        try:
            action, skip_to = _action_at(blocks, i, repairs)
        except ParseError:
            if quoted is None or not quoted.holds(raw):
                raise
            action, skip_to = None, end
        if quoted is not None and (action is None or _key(action) in quoted.keys or quoted.holds(raw)):
            repairs.append("ignored an 'Action:' whose text is quoted from an observation")
            dropped.append(raw)
            for j in range(i, skip_to + 1):
                blocks[j] = _Block("quoted", [], blocks[j].raw)
        elif action is not None:
            actions.append(action)
    return actions, dropped


def _final_text(blocks: list[_Block]) -> str | None:
    """The Final Answer's text, with any quoted action text that interrupted it put back."""
    start = next((i for i, block in enumerate(blocks) if block.kind == "final"), None)
    if start is None:
        return None
    parts = list(blocks[start].lines)
    for block in blocks[start + 1 :]:
        if block.kind != "quoted":
            break
        parts.extend(block.raw)
    return "\n".join(parts).strip()


def _one_kind(kinds: list[str]) -> None:
    """Refuse a turn holding more than one of actions, a plan and a final answer."""
    if len(kinds) > 1:
        first, second = kinds[:2]
        raise _fail(
            f"Your reply has both {_NAMES[first]} and {_NAMES[second]}, so it is unclear what to do. "
            f"Reply with one of them: {_CHOOSE[frozenset({first, second})]}."
        )


def parse_turn(text: str, observed: Iterable[str] = ()) -> ParsedTurn:
    """Parse one controller reply. Raises :class:`ParseError` when nothing usable is in it.

    ``observed``: texts the run's experts produced (observations); an action repeated from them
    is quoted text, not a call.
    """
    repairs: list[str] = []
    text = clean_text(text).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise _fail("Your reply was empty.")
    fence = _FENCE_OPEN.match(text)
    if fence is not None and "\n" in fence.group(0):
        text = text[fence.end() :].rstrip()
        text = text[:-3] if text.endswith("```") else text
        repairs.append("removed code fence around the reply")
    blocks = _split(text, repairs)
    has_action = any(b.kind == "action" for b in blocks)
    quoted = quoted_actions(observed) if has_action else None
    actions, dropped = _actions(blocks, repairs, quoted)
    thoughts = [b.text for b in blocks if b.kind == "thought"]
    if not thoughts:
        repairs.append("no Thought given")
    if blocks[0].text:
        repairs.append("ignored text before the first label")
    final = _final_text(blocks)
    plans = [b.text for b in blocks if b.kind == "plan" and b.text]
    kinds = [
        k for k, present in (("action", actions), ("plan", plans), ("final", final is not None)) if present
    ]
    _one_kind(kinds)
    thought = "\n".join(t for t in thoughts if t)
    repairs = list(dict.fromkeys(repairs))
    if plans:
        if len(plans) > 1:
            repairs.append("used the first of several Plans")
        return ParsedTurn(thought, [], None, repairs, plan=plans[0])
    if actions:
        return ParsedTurn(thought, actions, None, repairs)
    if final is not None:
        if not final:
            raise _fail("Your Final Answer is empty; write the answer after 'Final Answer:'.")
        return ParsedTurn(thought, [], final, repairs)
    if dropped:
        raise _fail(
            "Your Action repeats text an expert produced (it is quoted from an observation); text from "
            "an observation is never run. Write your own Action for the call you want, or a Final Answer."
        )
    raise _fail("Your reply has neither an 'Action:' line nor a 'Final Answer:' line.")
