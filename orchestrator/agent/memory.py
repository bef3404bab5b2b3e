"""Context budget: what of a long session's transcript the controller sees.

The checkpointed transcript keeps everything; :func:`controller_view` builds the messages the
controller reads each turn, within an approximate token budget, deterministically (no LLM):

1. Under budget, the transcript is returned as it is.
2. Otherwise the current run (from the last ``Task:`` message on) stays verbatim; earlier runs
   are kept whole from the newest back (their long observations shortened to one line, e.g.
   ``ocr → boxes-1 (3 items)``) while they fit, and the older ones become one line each in a
   summary message placed first: ``Earlier in this session (summary): …`` (task, tools called,
   artifact handles, answer or failure). Lines of the oldest tasks get briefer, then merge into
   one line that still names every handle, when the summary itself does not fit.
3. A current run that alone exceeds the budget keeps its task message and its last exchanges
   verbatim; its older exchanges are shortened the same way.

Artifacts are never dropped: their handles stay named in the summary, and the current task
message lists the whole artifact table anyway. Tokens are estimated, not counted: see
:func:`estimate_tokens`. Every step is linear in the transcript's length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.agent.state import Message
from orchestrator.agent.transcript import to_text_messages

__all__ = [
    "CHARS_PER_TOKEN",
    "MESSAGE_OVERHEAD_TOKENS",
    "SUMMARY_HEADER",
    "controller_view",
    "estimate_tokens",
]

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
SUMMARY_HEADER = "Earlier in this session (summary):"
TASK_PREFIX = "Task: "
FAILURE_PREFIX = "The task could not be completed: "
LONG_OBSERVATION_CHARS = 400  # observation lines longer than this are shortened when compacting
LONG_MESSAGE_CHARS = 300  # other messages of compacted exchanges are cut to this
RECENT_EXCHANGES = 3  # exchanges of the current run kept verbatim while compacting it

_HANDLE = re.compile(r"\b(?:image|mask|boxes|text)-\d+\b")
_OUTPUT_HANDLE = re.compile(r'"handle":\s*"([a-z]+-\d+)"')
_TABLE_HANDLE = re.compile(r"^- ([a-z]+-\d+): ", re.MULTILINE)
_TOOL = re.compile(r'"tool":\s*"([^"]{1,64})"')
_ACTION_LINE = re.compile(r"^\s*(?:action|action input|plan|final answer)\s*:", re.IGNORECASE)


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS


def estimate_tokens(messages: Iterable[Message]) -> int:
    """Approximate tokens: ``ceil(characters / 4) + 4`` per message (content plus role framing)."""
    return sum(_tokens(len(m["content"])) for m in messages)


def _clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text[: limit * 2].split())
    return flat if len(flat) <= limit and len(text) <= limit * 2 else flat[: limit - 1].rstrip() + "…"


def _clip_keeping_handles(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters; handles named only in the cut part are listed after it."""
    if len(text) <= limit:
        return text
    kept = text[: limit - 1].rstrip() + "…"
    seen = set(_HANDLE.findall(kept))
    lost = list(dict.fromkeys(h for h in _HANDLE.findall(text, limit - 1) if h not in seen))
    return kept + (f" [also named: {', '.join(lost)}]" if lost else "")


# -- observations ---------------------------------------------------------------------------------------
def _artifacts_in(value: Any, found: list[str]) -> Any:
    """Collect ``handle (detail)`` for artifact dicts; return ``value`` with them replaced by handles."""
    if isinstance(value, dict) and isinstance(value.get("handle"), str):
        size, count, text = value.get("size"), value.get("count"), value.get("text")
        if isinstance(size, list) and len(size) == 2:
            detail = f" ({size[0]}x{size[1]})"
        elif isinstance(count, int):
            detail = f" ({count} items)"
        elif isinstance(text, str):
            detail = f" ({_clip(json.dumps(text, ensure_ascii=False), 60)})"
        else:
            detail = ""
        found.append(value["handle"] + detail)
        return value["handle"]
    if isinstance(value, dict):
        return {k: _artifacts_in(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_artifacts_in(v, found) for v in value]
    return value


def _observation_gist(payload: str) -> str:
    """``ocr → boxes-1 (3 items)``, ``crop → error: …`` or ``noop → {"echo": "hi"}`` from a JSON body."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict):  # cut or not JSON: keep what regexes can still find
        found_tool = _TOOL.search(payload, 0, 200)
        handles = list(dict.fromkeys(_OUTPUT_HANDLE.findall(payload)))
        name = found_tool.group(1) if found_tool else "output"
        return f"{name} → {', '.join(handles)}" if handles else _clip_keeping_handles(payload, 160)
    tool = str(body.get("tool", "?"))
    if body.get("error") is not None:
        return f"{tool} → error: {_clip(str(body['error']), 160)}"
    found: list[str] = []
    rest = _artifacts_in(body.get("output"), found)
    if found:
        return f"{tool} → {', '.join(found)}"
    return f"{tool} → {_clip(json.dumps(rest, ensure_ascii=False), 120)}"


def _compact_observation(content: str) -> str:
    """Shorten each long ``Observation…: {json}`` line to its gist; other lines are kept."""
    lines = []
    for line in content.split("\n"):
        label, sep, payload = line.partition(": ")
        if len(line) > LONG_OBSERVATION_CHARS and sep and label.startswith("Observation"):
            line = f"{label}: {_observation_gist(payload)} [shortened]"
        lines.append(line)
    return "\n".join(lines)


def _compact_message(message: Message, *, thorough: bool) -> Message:
    """A message of an older exchange: long observations shortened; with ``thorough``, all long text.

    Native tool-calling keys (``tool_calls``, ``tool_call_id``) are kept as they are.
    """
    content, role = message["content"], message["role"]
    if role == "user" and content.startswith("Observation"):
        content = _compact_observation(content)
    elif role == "tool" and len(content) > LONG_OBSERVATION_CHARS:  # a native call's JSON observation
        content = f"{_observation_gist(content)} [shortened]"
    if thorough and len(content) > LONG_MESSAGE_CHARS:
        if role == "assistant":
            calls = [ln.strip() for ln in content.split("\n") if _ACTION_LINE.match(ln)]
            content = "\n".join(_clip_keeping_handles(ln, 200) for ln in calls) or content
        content = _clip_keeping_handles(content, LONG_MESSAGE_CHARS)
    return {**message, "content": content}


# -- runs and their summary lines ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Line:
    """One earlier run, summarised at two levels of detail, and the handles it introduced."""

    full: str
    brief: str
    handles: tuple[str, ...]


def _split_runs(messages: Sequence[Message]) -> list[list[Message]]:
    """Runs: each starts at a ``Task:`` message (messages before the first task form their own run)."""
    runs: list[list[Message]] = []
    for message in messages:
        if not runs or (message["role"] == "user" and message["content"].startswith(TASK_PREFIX)):
            runs.append([])
        runs[-1].append(message)
    return runs


def _summarise(index: int, run: list[Message], named: set[str]) -> _Line:
    first = run[0]["content"]
    is_task = run[0]["role"] == "user" and first.startswith(TASK_PREFIX)
    task = first[len(TASK_PREFIX) :].split("\n\nArtifacts available now:", 1)[0] if is_task else ""
    tools: dict[str, int] = {}
    inputs = [h for h in _TABLE_HANDLE.findall(first) if h not in named] if is_task else []
    named.update(inputs)
    produced: list[str] = []
    outcome = "no answer recorded"
    for message in run[1:] if is_task else run:
        content = message["content"]
        if message["role"] == "assistant" and "Final Answer:" in content:
            outcome = "answered: " + content.rsplit("Final Answer:", 1)[1]
        elif message["role"] == "user" and content.startswith(FAILURE_PREFIX):
            outcome = "failed: " + content[len(FAILURE_PREFIX) :]
        elif message["role"] == "user" and content.startswith("Observation"):
            for row in content.split("\n"):
                tool = _TOOL.search(row, 0, 200) if row.startswith("Observation") else None
                if tool:
                    tools[tool.group(1)] = tools.get(tool.group(1), 0) + 1
            for handle in _OUTPUT_HANDLE.findall(content):
                if handle not in named:
                    named.add(handle)
                    produced.append(handle)
    calls = ", ".join(t if n == 1 else f"{t} x{n}" for t, n in tools.items()) or "none"
    artifacts = "".join(
        f"; {label} {', '.join(hs)}" for label, hs in (("inputs", inputs), ("produced", produced)) if hs
    )
    verdict, _, detail = outcome.partition(": ")
    head = f"- Task {index}" if is_task else "- Before the first task"

    def line(task_chars: int, outcome_chars: int) -> str:
        about = f' "{_clip(task, task_chars)}"' if task else ""
        said = f": {_clip(detail, outcome_chars)}" if detail.strip() else ""
        return f"{head}{about}: tools {calls}{artifacts} → {verdict}{said}"

    return _Line(line(200, 200), line(60, 60), tuple(inputs + produced))


def _header(count: int, kept_runs: int) -> tuple[str, str]:
    """The summary's first line and its closing note (empty when no earlier run follows in full)."""
    noun = "task" if count == 1 else "tasks"
    first = f"{SUMMARY_HEADER} {count} earlier {noun}, oldest first; their artifacts keep their handles."
    note = f"(The {kept_runs} most recent earlier task(s) follow in full.)" if kept_runs else ""
    return first, note


def _summary_text(lines: Sequence[_Line], brief_upto: int, merged_upto: int, kept_runs: int) -> str:
    """The summary: lines before ``merged_upto`` merged into one, before ``brief_upto`` brief, others full."""
    first, note = _header(len(lines), kept_runs)
    parts = [first]
    if merged_upto:
        handles = [h for line in lines[:merged_upto] for h in line.handles]
        parts.append(f"- Tasks 1-{merged_upto}: artifacts {', '.join(handles) or 'none'}")
    parts += [line.brief for line in lines[merged_upto:brief_upto]]
    parts += [line.full for line in lines[max(brief_upto, merged_upto) :]]
    return "\n".join(parts + ([note] if note else []))


def _fit_summary(lines: Sequence[_Line], allowance: int, kept_runs: int = 0) -> Message:
    """The most detailed summary within ``allowance`` tokens, or the smallest (it names every handle).

    Sizes are added up, never re-rendered, so choosing costs one pass over the lines.
    """
    m = len(lines)
    first, note = _header(m, kept_runs)
    total = len(first) + (len(note) + 1 if note else 0) + sum(len(line.full) + 1 for line in lines)
    for j in range(m + 1):  # make the oldest j lines brief while the summary does not fit
        if _tokens(total) <= allowance:
            return {"role": "user", "content": _summary_text(lines, j, 0, kept_runs)}
        if j < m:
            total += len(lines[j].brief) - len(lines[j].full)
    total += len("\n- Tasks 1-: artifacts none") + len(str(m))  # then merge the oldest i brief lines
    merged_upto = m
    for i in range(1, m + 1):
        total += sum(len(h) + 2 for h in lines[i - 1].handles) - len(lines[i - 1].brief) - 1
        if _tokens(total) <= allowance:
            merged_upto = i
            break
    return {"role": "user", "content": _summary_text(lines, m, merged_upto, kept_runs)}


# -- the view ---------------------------------------------------------------------------------------------
def _compact_current(run: list[Message], allowance: int) -> list[Message]:
    """The current run within ``allowance`` if it can be: first message and last exchanges verbatim."""
    starts = [i for i, m in enumerate(run) if i > 0 and m["role"] == "assistant"]
    best: list[Message] = run
    for keep, thorough in ((RECENT_EXCHANGES, False), (RECENT_EXCHANGES, True), (2, True), (1, True)):
        cut = starts[-keep] if len(starts) >= keep else 1
        middle = [_compact_message(m, thorough=thorough) for m in run[1:cut]]
        best = [run[0], *middle, *run[cut:]]
        if estimate_tokens(best) <= allowance:
            break
    return best


def _as_text(run: list[Message]) -> list[Message]:
    return [{"role": m["role"], "content": m["content"]} for m in to_text_messages(run)]


def controller_view(transcript: Sequence[Message], budget_tokens: int) -> list[Message]:
    """The transcript as the controller sees it, within ``budget_tokens`` (see :func:`estimate_tokens`).

    Pure and deterministic. The current run (from the last ``Task:`` message on) is always there;
    where it alone exceeds the budget, the result exceeds it by what cannot be shortened: the task
    message, the last exchange and one line naming every earlier handle. Empty contents, which
    chat APIs reject, read ``(empty)``.
    """
    messages: list[Message] = [
        {**m, "content": "(empty)"} if not m["content"].strip() and not m.get("tool_calls") else m
        for m in transcript
    ]
    if estimate_tokens(messages) <= budget_tokens:
        return messages
    runs = _split_runs(messages)
    current, earlier = runs[-1], runs[:-1]
    named: set[str] = set()
    # native tool-calling turns are summarised in their text form (Action lines, Observations)
    lines = [_summarise(i + 1, _as_text(run), named) for i, run in enumerate(earlier)]
    room = budget_tokens - estimate_tokens(current)
    kept: dict[int, list[Message]] = {}  # the newest earlier runs that fit, shortened
    kept_tokens, first_kept = 0, len(earlier)
    while first_kept > 0:
        run = [_compact_message(m, thorough=False) for m in earlier[first_kept - 1]]
        if kept_tokens + estimate_tokens(run) > room:
            break
        first_kept -= 1
        kept[first_kept] = run
        kept_tokens += estimate_tokens(run)
    line_chars = sum(len(line.full) + 1 for line in lines[:first_kept])
    for k in range(first_kept, len(earlier)):  # summarise the oldest k runs, keep the others
        first, note = _header(k, len(earlier) - k)
        summary = _tokens(len(first) + len(note) + 1 + line_chars) if k else 0
        if kept_tokens + summary <= room:
            view = [_fit_summary(lines[:k], room - kept_tokens, len(earlier) - k)] if k else []
            return view + [m for i in range(k, len(earlier)) for m in kept[i]] + current
        kept_tokens -= estimate_tokens(kept[k])
        line_chars += len(lines[k].full) + 1
    if not earlier:
        return _compact_current(current, budget_tokens)
    smallest = _fit_summary(lines, 0)
    if estimate_tokens([smallest]) > room:
        current = _compact_current(current, budget_tokens - estimate_tokens([smallest]))
        room = budget_tokens - estimate_tokens(current)
    return [_fit_summary(lines, room), *current]
