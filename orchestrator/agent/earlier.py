"""The earlier runs of a session as the controller's view is made of them (see ``memory.py``).

The transcript is cut into runs at each run record's ``transcript_start``; each run keeps its
step records and the session's artifact table. An earlier run becomes one summary line (task,
tools called, artifact handles, answer or failure), and its long observations shorten to one line
(``ocr → boxes-1 (3 items)``). Earlier runs do not change, so lines and shortened messages are
made once per run and kept between turns (:class:`EarlierRuns`): a turn works on what ended since
the last one. Tokens are estimated, not counted: :func:`estimate_tokens`.
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

from experts.protocol import PIXEL_KINDS
from orchestrator.agent.state import AgentState, Message, RunRecord, StepRecord
from orchestrator.storage.artifacts import ArtifactRecord

__all__ = [
    "CHARS_PER_TOKEN",
    "EARLIER",
    "MESSAGE_OVERHEAD_TOKENS",
    "Earlier",
    "EarlierRuns",
    "Run",
    "SummaryLine",
    "estimate_tokens",
    "over_budget",
    "split_runs",
    "tokens",
]

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
LONG_OBSERVATION_CHARS = 400  # observation lines longer than this are shortened when compacting
LONG_MESSAGE_CHARS = 300  # other messages of compacted exchanges are cut to this

_WORD = re.compile(r"\b[a-z]+-\d+\b")  # a handle-shaped word; only those in the artifact table count
_ACTION_LINE = re.compile(r"^\s*(?:action|action input|plan|final answer)\s*:", re.IGNORECASE)
_VERDICTS = {"answered": "answered", "failed": "failed", "cancelled": "stopped", "interrupted": "interrupted"}


def tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS


def estimate_tokens(messages: Iterable[Message]) -> int:
    """Approximate tokens: ``ceil(characters / 4) + 4`` per message (content plus role framing)."""
    return sum(tokens(len(m["content"])) for m in messages)


def over_budget(messages: Sequence[Message], budget_tokens: int) -> bool:
    """Whether ``messages`` exceed the budget; reads from the newest back only as far as it must."""
    total = 0
    for message in reversed(messages):
        total += tokens(len(message["content"]))
        if total > budget_tokens:
            return True
    return False


def _clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text[: limit * 2].split())
    return flat if len(flat) <= limit and len(text) <= limit * 2 else flat[: limit - 1].rstrip() + "…"


def _size(record: ArtifactRecord | None) -> str:
    """`` (90x9)``, `` (40 items)`` or `` (12 chars)`` from an artifact record."""
    if record is None or not record["shape"]:
        return ""
    shape, kind = record["shape"], record["kind"]
    if kind in PIXEL_KINDS and len(shape) >= 2:
        return f" ({shape[0]}x{shape[1]})"
    unit = "item" if kind == "boxes" else "char"
    return f" ({shape[0]} {unit}{'' if shape[0] == 1 else 's'})"


# -- runs: the structured records of each stretch of the transcript --------------------------------------
@dataclass
class Run:
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


def split_runs(messages: list[Message], state: AgentState) -> list[Run]:
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
        runs.append(Run(None, before, steps.get(None, []), artifacts, extra))
    for i, record in enumerate(records):
        end = starts[i + 1] if i + 1 < len(records) else len(messages)
        runs.append(Run(record, messages[starts[i] : end], steps.get(record["run_id"], []), artifacts))
    return runs


# -- summary lines ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SummaryLine:
    """One earlier run, summarised at two levels of detail, and the handles it introduced."""

    full: str
    brief: str
    handles: tuple[str, ...]


def _summarise(number: int, run: Run, named: set[str]) -> SummaryLine:
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

    return SummaryLine(line(200, 200), line(60, 60), tuple(inputs + produced))


@dataclass
class Earlier:
    """The session's earlier runs as the view uses them: one summary line each, and each run's
    messages shortened (with their tokens), made once per run and kept between turns."""

    numbers: list[int]
    parts: list[tuple[object, ...]]
    """The objects each run is made of (record, messages, steps), to recognise it by identity."""
    keys: list[tuple[object, ...]]
    """What each run's line and shortened messages are made of, to recognise it by content."""
    lines: list[SummaryLine]
    named: set[str]
    shortened: dict[int, tuple[list[Message], int]] = field(default_factory=dict)

    def short(self, index: int, run: Run) -> tuple[list[Message], int]:
        """Run ``index``'s messages with long observations shortened, and their tokens."""
        if index not in self.shortened:
            messages = [run.compact(m, thorough=False) for m in run.messages]
            self.shortened[index] = (messages, estimate_tokens(messages))
        return self.shortened[index]


def _parts(run: Run) -> tuple[object, ...]:
    return (run.record, *run.messages, *run.steps, *run.extra_handles)


def _key(run: Run) -> tuple[object, ...]:
    record = run.record or {"run_id": ""}
    return (
        record["run_id"],
        record.get("task"),
        tuple(record.get("inputs", [])),
        record.get("status"),
        record.get("answer"),
        record.get("failure"),
        tuple((s["tool"], s["error"], tuple(s["new_handles"]), s["observation"]) for s in run.steps),
        tuple((h, run.artifacts[h]["producer"]) for h in run.extra_handles),
        tuple((m["role"], m["content"]) for m in run.messages),
    )


class EarlierRuns:
    """:class:`Earlier` per session (the most recently used ``sessions``).

    Earlier runs do not change, so a turn summarises only the runs that ended since the last one.
    A kept run is recognised by identity (the same record, message and step objects: the state the
    last run left in this process) or else by everything its line and its shortened messages are
    made of; a run that differs makes them again from the start.
    """

    def __init__(self, sessions: int = 64) -> None:
        self._sessions = sessions
        self._kept: OrderedDict[str, Earlier] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _matches(kept: Earlier, earlier: list[Run], numbers: list[int]) -> bool:
        """Whether ``earlier`` starts with the kept runs (a run equal in content takes its new identity)."""
        if len(earlier) < len(kept.parts) or numbers[: len(kept.numbers)] != kept.numbers:
            return False
        for i, known in enumerate(kept.parts):
            parts = _parts(earlier[i])
            if len(parts) == len(known) and all(a is b for a, b in zip(parts, known, strict=True)):
                continue
            if _key(earlier[i]) != kept.keys[i]:
                return False
            kept.parts[i] = parts
        return True

    def get(self, earlier: list[Run]) -> Earlier:
        """The lines of ``earlier`` (oldest first), as :func:`_summarise` makes them, and their cache."""
        numbers = list(accumulate(int(run.record is not None) for run in earlier))  # n-th recorded: Task n
        session = next((str(run.record["run_id"]) for run in earlier if run.record), "")
        with self._lock:
            kept = self._kept.get(session)
        start = len(kept.parts) if kept is not None and self._matches(kept, earlier, numbers) else 0
        if kept is None or start == 0:
            kept = Earlier([], [], [], [], set())
        named = set(kept.named)
        made = Earlier(
            numbers,
            kept.parts + [_parts(run) for run in earlier[start:]],
            kept.keys + [_key(run) for run in earlier[start:]],
            kept.lines + [_summarise(numbers[i], earlier[i], named) for i in range(start, len(earlier))],
            named,
            dict(kept.shortened),
        )
        if session:
            with self._lock:
                self._kept[session] = made
                self._kept.move_to_end(session)
                while len(self._kept) > self._sessions:
                    self._kept.popitem(last=False)
        return made


EARLIER = EarlierRuns()
