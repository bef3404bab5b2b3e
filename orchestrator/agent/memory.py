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

Artifacts are never dropped: their handles stay named in the summary or in the messages kept
(each task message lists the artifacts new with it and how many the session holds). Tokens are
estimated, not counted: see :func:`estimate_tokens`. Earlier runs are cut, summarised and
shortened in ``orchestrator/agent/earlier.py``, once per run (kept between turns), so a turn's
cost does not grow with the number of earlier runs beyond a linear pass over their records.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.agent.earlier import (
    CHARS_PER_TOKEN,
    EARLIER,
    MESSAGE_OVERHEAD_TOKENS,
    Run,
    SummaryLine,
    estimate_tokens,
    over_budget,
    split_runs,
    tokens,
)
from orchestrator.agent.state import AgentState, Message

__all__ = [
    "CHARS_PER_TOKEN",
    "MESSAGE_OVERHEAD_TOKENS",
    "SUMMARY_HEADER",
    "controller_view",
    "estimate_tokens",
]

SUMMARY_HEADER = "Earlier in this session (summary):"
RECENT_EXCHANGES = 3  # exchanges of the current run kept verbatim while compacting it


def _header(count: int, kept_runs: int) -> tuple[str, str]:
    """The summary's first line and its closing note (empty when no earlier run follows in full)."""
    noun = "task" if count == 1 else "tasks"
    first = f"{SUMMARY_HEADER} {count} earlier {noun}, oldest first; their artifacts keep their handles."
    note = f"(The {kept_runs} most recent earlier task(s) follow in full.)" if kept_runs else ""
    return first, note


def _summary_text(lines: Sequence[SummaryLine], brief_upto: int, merged_upto: int, kept_runs: int) -> str:
    """The summary: lines before ``merged_upto`` merged into one, before ``brief_upto`` brief, others full."""
    first, note = _header(len(lines), kept_runs)
    parts = [first]
    if merged_upto:
        handles = [h for line in lines[:merged_upto] for h in line.handles]
        parts.append(f"- Tasks 1-{merged_upto}: artifacts {', '.join(handles) or 'none'}")
    parts += [line.brief for line in lines[merged_upto:brief_upto]]
    parts += [line.full for line in lines[max(brief_upto, merged_upto) :]]
    return "\n".join(parts + ([note] if note else []))


def _fit_summary(lines: Sequence[SummaryLine], allowance: int, kept_runs: int = 0) -> Message:
    """The most detailed summary within ``allowance`` tokens, or the smallest (it names every handle).

    Sizes are added up, never re-rendered, so choosing costs one pass over the lines.
    """
    m = len(lines)
    first, note = _header(m, kept_runs)
    total = len(first) + (len(note) + 1 if note else 0) + sum(len(line.full) + 1 for line in lines)
    for j in range(m + 1):  # make the oldest j lines brief while the summary does not fit
        if tokens(total) <= allowance:
            return {"role": "user", "content": _summary_text(lines, j, 0, kept_runs)}
        if j < m:
            total += len(lines[j].brief) - len(lines[j].full)
    total += len("\n- Tasks 1-: artifacts none") + len(str(m))  # then merge the oldest i brief lines
    merged_upto = m
    for i in range(1, m + 1):
        total += sum(len(h) + 2 for h in lines[i - 1].handles) - len(lines[i - 1].brief) - 1
        if tokens(total) <= allowance:
            merged_upto = i
            break
    return {"role": "user", "content": _summary_text(lines, m, merged_upto, kept_runs)}


# -- the view ---------------------------------------------------------------------------------------------
def _compact_current(run: Run, allowance: int) -> list[Message]:
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
    if not over_budget(messages, budget_tokens):
        return messages
    runs = split_runs(messages, state)
    current, earlier = runs[-1], runs[:-1]
    cached = EARLIER.get(earlier)
    lines = cached.lines
    room = budget_tokens - estimate_tokens(current.messages)
    kept: dict[int, list[Message]] = {}  # the newest earlier runs that fit, shortened
    kept_tokens, first_kept = 0, len(earlier)
    while first_kept > 0:
        shortened, size = cached.short(first_kept - 1, earlier[first_kept - 1])
        if kept_tokens + size > room:
            break
        first_kept -= 1
        kept[first_kept] = shortened
        kept_tokens += size
    line_chars = sum(len(line.full) + 1 for line in lines[:first_kept])
    for k in range(first_kept, len(earlier)):  # summarise the oldest k runs, keep the others
        first, note = _header(k, len(earlier) - k)
        summary = tokens(len(first) + len(note) + 1 + line_chars) if k else 0
        if kept_tokens + summary <= room:
            view = [_fit_summary(lines[:k], room - kept_tokens, len(earlier) - k)] if k else []
            return view + [m for i in range(k, len(earlier)) for m in kept[i]] + current.messages
        kept_tokens -= cached.short(k, earlier[k])[1]
        line_chars += len(lines[k].full) + 1
    if not earlier:
        return _compact_current(current, budget_tokens)
    smallest = _fit_summary(lines, 0)
    compacted = current.messages
    if estimate_tokens([smallest]) > room:
        compacted = _compact_current(current, budget_tokens - estimate_tokens([smallest]))
        room = budget_tokens - estimate_tokens(compacted)
    return [_fit_summary(lines, room), *compacted]
