"""Context budget: what of a long session's transcript the controller sees.

The checkpointed transcript keeps everything; :func:`controller_view` builds the messages the
controller reads each turn, within an approximate token budget, deterministically (no LLM).
What a run was is read from the structured records in state, never from the rendered text: the
run records (task, input handles, where the run starts in the transcript, how it ended), the step
records (tool, error, new handles, the observation written) and the artifact table (kind, size).

1. Under budget, the transcript is returned as it is.
2. Otherwise the current run stays verbatim; earlier runs are kept whole from the newest back
   (their long observations shortened to one line, e.g. ``ocr → boxes-1 (3 items)``) while they fit,
   and the older ones become one line each in a summary message placed first: ``Earlier in this
   session (summary): …`` (task, tools called, artifact handles, answer or failure). Lines of the
   oldest tasks get briefer, then merge into one line that still names every handle, when the
   summary itself does not fit.
3. A current run that alone exceeds the budget keeps its task message and its last exchanges
   verbatim; its older exchanges are shortened the same way.

Artifacts are never dropped: their handles stay named in the summary, and the current task
message lists the whole artifact table anyway. Tokens are estimated, not counted: see
:func:`estimate_tokens`. Every step is linear in the transcript's length.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate

from orchestrator.agent.state import AgentState, Message, RunRecord, StepRecord
from orchestrator.storage.artifacts import ArtifactRecord

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
LONG_OBSERVATION_CHARS = 400  # observation lines longer than this are shortened when compacting
LONG_MESSAGE_CHARS = 300  # other messages of compacted exchanges are cut to this
RECENT_EXCHANGES = 3  # exchanges of the current run kept verbatim while compacting it

_WORD = re.compile(r"\b[a-z]+-\d+\b")  # a handle-shaped word; only those in the artifact table count
_ACTION_LINE = re.compile(r"^\s*(?:action|action input|plan|final answer)\s*:", re.IGNORECASE)
_VERDICTS = {"answered": "answered", "failed": "failed", "cancelled": "stopped", "interrupted": "interrupted"}


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS


def estimate_tokens(messages: Iterable[Message]) -> int:
    """Approximate tokens: ``ceil(characters / 4) + 4`` per message (content plus role framing)."""
    return sum(_tokens(len(m["content"])) for m in messages)


def _clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text[: limit * 2].split())
    return flat if len(flat) <= limit and len(text) <= limit * 2 else flat[: limit - 1].rstrip() + "…"


def _size(record: ArtifactRecord | None) -> str:
    """`` (90x9)``, `` (40 items)`` or `` (12 chars)`` from an artifact record."""
    if record is None or not record["shape"]:
        return ""
    shape, kind = record["shape"], record["kind"]
    if kind in ("image", "mask") and len(shape) >= 2:
        return f" ({shape[0]}x{shape[1]})"
    unit = "item" if kind == "boxes" else "char"
    return f" ({shape[0]} {unit}{'' if shape[0] == 1 else 's'})"


# -- runs: the structured records of each stretch of the transcript --------------------------------------
@dataclass
class _Run:
    """One run's messages and records; ``record`` is None for messages before the first recorded run."""

    record: RunRecord | None
    messages: list[Message]
    steps: list[StepRecord]
    artifacts: Mapping[str, ArtifactRecord]
    extra_handles: list[str] = field(default_factory=list)  # artifacts no record attributes to a run

    @cached_property
    def by_observation(self) -> dict[str, StepRecord]:
        """The run's tool steps by the observation text they wrote into the transcript."""
        return {s["observation"]: s for s in self.steps if s["tool"]}

    def keep_handles(self, text: str, limit: int) -> str:
        """Cut ``text`` to ``limit`` characters; artifacts named only in the cut part are listed after it."""
        if len(text) <= limit:
            return text
        kept = text[: limit - 1].rstrip() + "…"
        seen = set(_WORD.findall(kept))
        cut = _WORD.findall(text, limit - 1)
        lost = dict.fromkeys(h for h in cut if h in self.artifacts and h not in seen)
        return kept + (f" [also named: {', '.join(lost)}]" if lost else "")

    def gist(self, observation: str) -> str:
        """``ocr → boxes-1 (3 items)``, ``crop → error: …`` or ``noop → {"echo": "hi"}``."""
        step = self.by_observation.get(observation)
        if step is None:  # not a tool's observation (a re-plan request, a note): cut it
            return self.keep_handles(observation, 160)
        if step["error"] is not None:
            return f"{step['tool']} → error: {_clip(step['error'], 160)}"
        if step["new_handles"]:
            made = ", ".join(h + _size(self.artifacts.get(h)) for h in step["new_handles"])
            return f"{step['tool']} → {made}"
        try:
            body = json.loads(observation)
        except json.JSONDecodeError:  # cut when it was written
            body = None
        output = body.get("output") if isinstance(body, dict) else observation
        return f"{step['tool']} → {_clip(json.dumps(output, ensure_ascii=False), 120)}"

    def compact(self, message: Message, *, thorough: bool) -> Message:
        """A message of an older exchange: long observations shortened; with ``thorough``, all long text.

        Native tool-calling keys (``tool_calls``, ``tool_call_id``) are kept as they are.
        """
        content, role = message["content"], message["role"]
        if role == "user" and content.startswith("Observation"):
            lines = []
            for line in content.split("\n"):
                label, sep, payload = line.partition(": ")
                if len(line) > LONG_OBSERVATION_CHARS and sep and label.startswith("Observation"):
                    line = f"{label}: {self.gist(payload)} [shortened]"
                lines.append(line)
            content = "\n".join(lines)
        elif role == "tool" and len(content) > LONG_OBSERVATION_CHARS:  # a native call's observation
            content = f"{self.gist(content)} [shortened]"
        if thorough and len(content) > LONG_MESSAGE_CHARS:
            if role == "assistant":  # the controller's own prose: keep the lines that acted
                calls = [ln.strip() for ln in content.split("\n") if _ACTION_LINE.match(ln)]
                content = "\n".join(self.keep_handles(ln, 200) for ln in calls) or content
            content = self.keep_handles(content, LONG_MESSAGE_CHARS)
        return {**message, "content": content}


def _runs(messages: list[Message], state: AgentState) -> list[_Run]:
    """The transcript cut at each run record's ``transcript_start``; the last run is the current one."""
    artifacts = state.get("artifacts") or {}
    records = sorted(
        (r for r in state.get("runs") or [] if isinstance(r.get("transcript_start"), int)),
        key=lambda r: r["transcript_start"],
    )
    steps: dict[str | None, list[StepRecord]] = {}
    known = {r["run_id"] for r in records}
    for step in state.get("steps") or []:
        steps.setdefault(step["run_id"] if step["run_id"] in known else None, []).append(step)
    starts = [min(max(r["transcript_start"], 0), len(messages)) for r in records]
    runs = []
    if not records or starts[0] > 0:
        attributed = {h for r in records for h in r.get("inputs", [])}
        attributed |= {h for r in records for s in steps.get(r["run_id"], []) for h in s["new_handles"]}
        attributed |= {h for s in steps.get(None, []) for h in s["new_handles"]}
        extra = [h for h in artifacts if h not in attributed]
        before = messages[: starts[0]] if records else messages
        runs.append(_Run(None, before, steps.get(None, []), artifacts, extra))
    for i, record in enumerate(records):
        end = starts[i + 1] if i + 1 < len(records) else len(messages)
        runs.append(_Run(record, messages[starts[i] : end], steps.get(record["run_id"], []), artifacts))
    return runs


# -- summary lines ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Line:
    """One earlier run, summarised at two levels of detail, and the handles it introduced."""

    full: str
    brief: str
    handles: tuple[str, ...]


def _summarise(number: int, run: _Run, named: set[str]) -> _Line:
    """The run's line: task, tools called (and how many failed), its handles, and how it ended."""
    record = run.record or {"run_id": ""}
    tools: dict[str, list[int]] = {}
    for step in run.steps:
        if step["tool"]:
            counts = tools.setdefault(step["tool"], [0, 0])
            counts[0] += 1
            counts[1] += step["error"] is not None
    calls = ", ".join(
        name + (f" x{n}" if n > 1 else "") + (f" ({k} failed)" if k else "") for name, (n, k) in tools.items()
    )
    made = [h for s in run.steps for h in s["new_handles"]]
    extra_inputs = [h for h in run.extra_handles if run.artifacts[h]["producer"] == "input"]
    inputs = [h for h in [*record.get("inputs", []), *extra_inputs] if h not in named]
    named.update(inputs)
    produced = [h for h in [*made, *run.extra_handles] if h not in named]
    named.update(produced)
    artifacts = "".join(
        f"; {label} {', '.join(hs)}" for label, hs in (("inputs", inputs), ("produced", produced)) if hs
    )
    status = record.get("status") or ""
    verdict = _VERDICTS.get(status, "no answer recorded")
    detail = (record.get("answer") if status == "answered" else record.get("failure")) or ""
    head = f"- Task {number}" if run.record is not None else "- Before the first task"
    task = record.get("task", "")

    def line(task_chars: int, outcome_chars: int) -> str:
        about = f' "{_clip(task, task_chars)}"' if task else ""
        said = f": {_clip(detail, outcome_chars)}" if detail.strip() and verdict in _VERDICTS.values() else ""
        return f"{head}{about}: tools {calls or 'none'}{artifacts} → {verdict}{said}"

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


class _LineCache:
    """The summary lines of earlier runs, kept per session between turns.

    Earlier runs do not change, so each turn summarises only the runs that ended since the last
    one. A run is recognised by everything its line is made of; any difference from the kept lines
    makes them again from the start.
    """

    def __init__(self, sessions: int = 64) -> None:
        self._sessions = sessions
        self._kept: OrderedDict[str, tuple[list[tuple[object, ...]], list[_Line], set[str]]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(number: int, run: _Run) -> tuple[object, ...]:
        """Everything :func:`_summarise` reads of the run (the runs before it are compared too)."""
        record = run.record or {"run_id": ""}
        return (
            number,
            record["run_id"],
            record.get("task"),
            tuple(record.get("inputs", [])),
            record.get("status"),
            record.get("answer"),
            record.get("failure"),
            tuple((s["tool"], s["error"] is None, tuple(s["new_handles"])) for s in run.steps),
            tuple((h, run.artifacts[h]["producer"]) for h in run.extra_handles),
        )

    def lines(self, earlier: list[_Run]) -> list[_Line]:
        """The summary line of each run in ``earlier`` (oldest first), as :func:`_summarise` makes it."""
        numbers = accumulate(
            int(run.record is not None) for run in earlier
        )  # the n-th recorded run is Task n
        keys = [self._key(n, run) for n, run in zip(numbers, earlier, strict=True)]
        session = next((str(key[1]) for key in keys if key[1]), "")
        with self._lock:
            kept_keys, kept_lines, kept_named = self._kept.get(session, ([], [], set()))
        start = len(kept_keys) if keys[: len(kept_keys)] == kept_keys else 0
        lines = kept_lines[:start]
        named = set(kept_named) if start else set()
        lines += [_summarise(int(str(keys[i][0])), earlier[i], named) for i in range(start, len(earlier))]
        if session:
            with self._lock:
                self._kept[session] = (keys, lines, named)
                self._kept.move_to_end(session)
                while len(self._kept) > self._sessions:
                    self._kept.popitem(last=False)
        return lines


_LINES = _LineCache()


# -- the view ---------------------------------------------------------------------------------------------
def _compact_current(run: _Run, allowance: int) -> list[Message]:
    """The current run within ``allowance`` if it can be: first message and last exchanges verbatim."""
    messages = run.messages
    starts = [i for i, m in enumerate(messages) if i > 0 and m["role"] == "assistant"]
    best: list[Message] = messages
    for keep, thorough in ((RECENT_EXCHANGES, False), (RECENT_EXCHANGES, True), (2, True), (1, True)):
        cut = starts[-keep] if len(starts) >= keep else 1
        middle = [run.compact(m, thorough=thorough) for m in messages[1:cut]]
        best = [messages[0], *middle, *messages[cut:]]
        if estimate_tokens(best) <= allowance:
            break
    return best


def controller_view(state: AgentState, budget_tokens: int) -> list[Message]:
    """The session's transcript as the controller sees it, within ``budget_tokens``.

    Tokens are estimated by :func:`estimate_tokens`.

    Pure and deterministic. The current run (from its run record's ``transcript_start`` on) is always
    there; where it alone exceeds the budget, the result exceeds it by what cannot be shortened: the
    task message, the last exchange and one line naming every earlier handle. Empty contents, which
    chat APIs reject, read ``(empty)``.
    """
    messages: list[Message] = [
        {**m, "content": "(empty)"} if not m["content"].strip() and not m.get("tool_calls") else m
        for m in state.get("transcript") or []
    ]
    if estimate_tokens(messages) <= budget_tokens:
        return messages
    runs = _runs(messages, state)
    current, earlier = runs[-1], runs[:-1]
    lines = _LINES.lines(earlier)
    room = budget_tokens - estimate_tokens(current.messages)
    kept: dict[int, list[Message]] = {}  # the newest earlier runs that fit, shortened
    kept_tokens, first_kept = 0, len(earlier)
    while first_kept > 0:
        older = earlier[first_kept - 1]
        shortened = [older.compact(m, thorough=False) for m in older.messages]
        if kept_tokens + estimate_tokens(shortened) > room:
            break
        first_kept -= 1
        kept[first_kept] = shortened
        kept_tokens += estimate_tokens(shortened)
    line_chars = sum(len(line.full) + 1 for line in lines[:first_kept])
    for k in range(first_kept, len(earlier)):  # summarise the oldest k runs, keep the others
        first, note = _header(k, len(earlier) - k)
        summary = _tokens(len(first) + len(note) + 1 + line_chars) if k else 0
        if kept_tokens + summary <= room:
            view = [_fit_summary(lines[:k], room - kept_tokens, len(earlier) - k)] if k else []
            return view + [m for i in range(k, len(earlier)) for m in kept[i]] + current.messages
        kept_tokens -= estimate_tokens(kept[k])
        line_chars += len(lines[k].full) + 1
    if not earlier:
        return _compact_current(current, budget_tokens)
    smallest = _fit_summary(lines, 0)
    compacted = current.messages
    if estimate_tokens([smallest]) > room:
        compacted = _compact_current(current, budget_tokens - estimate_tokens([smallest]))
        room = budget_tokens - estimate_tokens(compacted)
    return [_fit_summary(lines, room), *compacted]
