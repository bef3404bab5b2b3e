"""The controller's view of a long transcript: within budget, current run verbatim, no handle lost."""

from __future__ import annotations

import copy
import json
import re

import pytest

from orchestrator.agent.memory import SUMMARY_HEADER, controller_view, estimate_tokens
from orchestrator.agent.nodes.observe import render_observation
from orchestrator.agent.state import Message, merge_runs
from prompts import render

HANDLE = re.compile(r"\b(?:image|mask|boxes|text)-\d+\b")


def default_task_message(text: str, listing: str, count: int) -> str:
    return render("task", task=text, artifacts=listing, count=count)


class Session:
    """Builds a session's state the way the graph writes it: run records, steps, artifacts, transcript."""

    def __init__(self, task_message=default_task_message) -> None:
        self.task_message = task_message
        self.transcript: list[Message] = []
        self.runs: list[dict] = []
        self.steps: list[dict] = []
        self.artifacts: dict[str, dict] = {}
        self.table: list[str] = []
        self.counts: dict[str, int] = {}
        self.turn = 0

    @property
    def state(self) -> dict:
        return {
            "transcript": self.transcript,
            "runs": self.runs,
            "steps": self.steps,
            "artifacts": self.artifacts,
        }

    @property
    def run_id(self) -> str:
        return self.runs[-1]["run_id"]

    def _new(self, kind: str, shape: list[int], producer: str = "input", parents=()) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        handle = f"{kind}-{self.counts[kind]}"
        self.artifacts[handle] = {
            "handle": handle,
            "id": f"id-{handle}",
            "kind": kind,
            "shape": shape,
            "producer_step": len(self.steps) + 1 if producer != "input" else 0,
            "producer": producer,
            "parents": list(parents),
            "uri": f"{handle}.bin",
        }
        return handle

    def _step(self, tool: str | None, arguments: dict, observation: str, error=None, new=()) -> None:
        self.steps.append(
            {
                "index": len(self.steps) + 1,
                "run_id": self.run_id,
                "turn": self.turn,
                "thought": "",
                "tool": tool,
                "arguments": arguments,
                "observation": observation,
                "started_at": 0.0,
                "seconds": 0.0,
                "replica": None,
                "error": error,
                "new_handles": list(new),
            }
        )

    def _end(self, **fields) -> None:
        self.runs = merge_runs(self.runs, [{"run_id": self.run_id, **fields}])  # as the reducer does

    def task(self, text: str, images: int = 1, listing: str | None = None) -> list[str]:
        handles = [self._new("image", [64, 48]) for _ in range(images)]
        new = [f"- {h}: image 64x48, input image" for h in handles]  # as the runner lists them: new ones
        self.table += new
        run = {"task": text, "inputs": handles, "transcript_start": len(self.transcript), "status": "running"}
        self.runs = merge_runs(self.runs, [{"run_id": f"run-{len(self.runs) + 1}", **run}])
        self.turn = 0
        message = self.task_message(text, listing or "\n".join(new) or "(none)", len(self.artifacts))
        self.transcript.append({"role": "user", "content": message})
        return handles

    def call(self, tool: str, arguments: dict, output: dict | None = None, error: str | None = None) -> None:
        """One turn and its observation; ``{"new": kind, ...}`` in ``output`` becomes a fresh handle."""
        self.turn += 1
        turn = f"Thought: use {tool}\nAction: {tool}\nAction Input: {json.dumps(arguments)}"
        self.transcript.append({"role": "assistant", "content": turn})
        parents = [v for v in arguments.values() if isinstance(v, str) and HANDLE.fullmatch(v)]
        made: list[str] = []

        def register(value):
            if isinstance(value, dict) and "new" in value:
                kind = value["new"]
                shape = value["size"] if "size" in value else [value.get("count", 0)]
                handle = self._new(kind, shape, producer=tool, parents=parents)
                made.append(handle)
                self.table.append(f"- {handle}: {kind}, from {tool}")
                return {"handle": handle, **{k: v for k, v in value.items() if k != "new"}}
            if isinstance(value, dict):
                return {k: register(v) for k, v in value.items()}
            return value

        body = {"tool": tool, "error": error} if error else {"tool": tool, "output": register(output)}
        observation = render_observation(tool, body)
        self._step(tool, arguments, observation, error=error, new=made)
        self.transcript.append({"role": "user", "content": "Observation: " + observation})

    def answer(self, text: str) -> None:
        self.turn += 1
        self.transcript.append({"role": "assistant", "content": f"Thought: done\nFinal Answer: {text}"})
        self._step(None, {}, text)
        self._end(status="answered", answer=text)

    def fail(self, reason: str) -> None:
        self.transcript.append({"role": "user", "content": render("failure", reason=reason)})
        self._end(status="failed", failure=reason)


def ocr_lines(count: int) -> dict:
    items = [
        {"text": f"line number {i} of the sign", "box": [0, i * 10, 90, i * 10 + 9]} for i in range(count)
    ]
    return {"lines": {"new": "boxes", "count": count, "items": items}}


def busy_session(runs: int = 6) -> Session:
    s = Session()
    for i in range(runs):
        (img,) = s.task(f"read the sign number {i} and crop its first line")
        s.call("ocr", {"image": img}, ocr_lines(40))
        s.call("crop", {"image": img, "box": [0, 0, 90, 9]}, {"image": {"new": "image", "size": [90, 9]}})
        s.answer(f"sign {i} says 'line number 0 of the sign'; the first line is in the crop " + "x" * 300)
    return s


def current_run(s: Session) -> list[Message]:
    return s.transcript[s.runs[-1]["transcript_start"] :]


def check_valid(view: list[Message]) -> None:
    assert view and view[0]["role"] == "user"
    assert all(m["role"] in ("user", "assistant") and m["content"].strip() for m in view)


def test_under_budget_is_unchanged():
    s = busy_session(2)
    view = controller_view(s.state, 100_000)
    assert view == s.transcript and view is not s.transcript
    assert controller_view({}, 500) == [] and controller_view({"transcript": []}, 500) == []


def test_over_budget_summarises_older_runs_and_keeps_the_current_one():
    s = busy_session(6)
    (img,) = s.task("now invert the newest crop")
    s.call("invert", {"image": img}, {"image": {"new": "image", "size": [90, 9]}})
    before = copy.deepcopy(s.state)
    budget = 700
    assert estimate_tokens(s.transcript) > 4 * budget
    view = controller_view(s.state, budget)
    assert s.state == before  # pure
    assert view == controller_view(copy.deepcopy(s.state), budget)  # deterministic
    check_valid(view)
    assert estimate_tokens(view) <= budget
    summary = view[0]["content"]
    assert summary.startswith(SUMMARY_HEADER)
    current = current_run(s)
    assert view[-len(current) :] == current
    old = s.transcript[: -len(current)]
    old_handles = {h for m in old for h in HANDLE.findall(m["content"])}
    assert old_handles and all(h in summary for h in old_handles)
    # one line per earlier task: its text, tools, handles and (cut) answer
    first = next(line for line in summary.splitlines() if line.startswith("- Task 1 "))
    assert "read the sign number 0" in first and "tools ocr, crop" in first
    assert "inputs image-1" in first and "produced boxes-1, image-2" in first
    assert "answered: sign 0 says" in first and len(first) < 600 and "x" * 250 not in first


def test_recent_earlier_runs_are_kept_whole_with_long_observations_shortened():
    s = busy_session(6)
    s.task("and one more")
    budget = estimate_tokens(s.transcript) // 5
    view = controller_view(s.state, budget)
    check_valid(view)
    assert estimate_tokens(view) <= budget
    assert view[0]["content"].startswith(SUMMARY_HEADER) and "follow in full" in view[0]["content"]
    kept_tasks = [m["content"] for m in view[1:] if m["content"].startswith("Task: ")]
    assert len(kept_tasks) >= 2 and kept_tasks[-1].startswith("Task: and one more")
    shortened = [m["content"] for m in view if "[shortened]" in m["content"]]
    assert shortened and all(re.match(r"Observation: ocr → boxes-\d+ \(40 items\)", c) for c in shortened)
    # the short crop observations stay verbatim
    assert any(m["content"].startswith('Observation: {"tool": "crop"') for m in view[1:])


def test_summary_gets_briefer_then_merges_but_names_every_handle():
    s = Session()
    for i in range(120):
        (img,) = s.task(f"task {i}: " + "describe the picture in great detail " * 5)
        s.call("invert", {"image": img}, {"image": {"new": "image", "size": [8, 8]}})
        s.answer("done " * 60)
    s.task("last one", images=0, listing="(see above)")
    all_handles = {h for m in s.transcript for h in HANDLE.findall(m["content"])}
    for budget in (6000, 3000, 1200):
        view = controller_view(s.state, budget)
        check_valid(view)
        assert estimate_tokens(view) <= budget, budget
        assert all(h in view[0]["content"] for h in all_handles), budget
    merged = controller_view(s.state, 1200)[0]["content"]
    assert "- Tasks 1-" in merged  # the oldest tasks are one line of handles
    assert merged.splitlines()[-1].startswith("- Task 120 ")  # the newest keeps its own line


def test_giant_current_run_keeps_task_and_last_exchanges_verbatim():
    s = busy_session(2)
    (img,) = s.task("read a huge document")
    s.call("ocr", {"image": img}, ocr_lines(400))  # cut by render_observation at ~6000 chars
    for i in range(4):
        s.call("noop", {"payload": f"step {i}"}, {"echo": f"step {i}"})
    current = current_run(s)
    view = controller_view(s.state, 900)
    check_valid(view)
    assert estimate_tokens(view) <= 900
    assert view[0]["content"].startswith(SUMMARY_HEADER)
    assert view[1] == current[0]  # the task message, verbatim
    assert view[-6:] == current[-6:]  # the last three exchanges, verbatim
    giant = next(m["content"] for m in view if "boxes-3" in m["content"])
    assert giant.startswith("Observation: ocr → boxes-3") and len(giant) < 200


def test_one_giant_observation_as_the_latest_message_is_kept():
    s = Session()
    (img,) = s.task("read everything")
    s.call("ocr", {"image": img}, ocr_lines(400))
    view = controller_view(s.state, 500)
    assert view == s.transcript  # nothing older to drop: the unavoidable current run
    check_valid(view)


def test_session_of_only_failures():
    s = Session()
    for i in range(30):
        s.task(f"attempt {i}", images=0)
        s.transcript.append({"role": "assistant", "content": "I am not sure what to do. " * 20})
        s.transcript.append(
            {"role": "user", "content": render("correction", problem="no Action", retries_left=0)}
        )
        s._step(None, {}, "I am not sure", error="unparseable controller reply: no Action")
        s.fail(f"the controller's replies could not be used (attempt {i})")
    s.task("attempt 30", images=0)
    view = controller_view(s.state, 600)
    check_valid(view)
    assert estimate_tokens(view) <= 600
    lines = view[0]["content"].splitlines()
    assert any(
        line.startswith("- Task 30 ") and "tools none" in line and "→ failed:" in line for line in lines
    )
    assert view[-1] == s.transcript[-1]


def test_empty_contents_and_messages_before_any_task():
    transcript: list[Message] = [
        {"role": "user", "content": "Observation: {}"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": render("task", task="go", artifacts="(none)", count=0)},
    ]
    run = {"run_id": "r1", "task": "go", "inputs": [], "status": "running"}
    view = controller_view({"transcript": transcript, "runs": [run | {"transcript_start": 2}]}, 500)
    assert view[1]["content"] == "(empty)"
    check_valid(view)
    big = transcript[:2] * 200 + transcript[2:]
    view = controller_view({"transcript": big, "runs": [run | {"transcript_start": 400}]}, 500)
    check_valid(view)
    assert view[0]["content"].startswith(SUMMARY_HEADER) and "- Before the first task" in view[0]["content"]
    assert view[-1] == transcript[-1]


@pytest.mark.parametrize("budget", [900, 1500, 3000, 6000])
def test_budgets_are_respected_whenever_the_current_run_fits(budget):
    s = busy_session(25)
    s.task("small final task", images=0)
    view = controller_view(s.state, budget)
    check_valid(view)
    assert estimate_tokens(view) <= budget
    assert view[-1] == s.transcript[-1]


@pytest.mark.parametrize("budget", [500, 700])
def test_a_current_run_over_budget_gets_the_smallest_summary(budget):
    s = busy_session(25)
    s.task("small final task", images=0, listing="\n".join(s.table))  # 75 artifacts: ~560 tokens by itself
    view = controller_view(s.state, budget)
    check_valid(view)
    summary = view[0]["content"]
    assert view[1:] == s.transcript[-1:]
    assert (
        summary.count("\n") == 1 and "- Tasks 1-25: artifacts image-1, boxes-1, image-2, image-3" in summary
    )
    assert len(summary) < 900  # a header and the handles: nothing else fits


def test_long_turns_of_the_current_run_shrink_to_their_actions():
    s = Session()
    s.task("think a lot")
    for i in range(12):
        s.call("noop", {"payload": f"p{i}"}, {"echo": f"p{i}"})
        s.transcript[-2]["content"] = (
            "Thought: " + "let me consider this carefully. " * 20 + s.transcript[-2]["content"]
        )
    view = controller_view(s.state, 900)
    check_valid(view)
    assert estimate_tokens(view) <= 900
    assert view[0] == s.transcript[0] and view[-4:] == s.transcript[-4:]  # two exchanges fit whole
    middle = [m["content"] for m in view[1:-4] if m["role"] == "assistant"]
    assert len(middle) == 10 and all(c.startswith("Action: noop\nAction Input:") for c in middle)
    assert 'Action Input: {"payload": "p0"}' in middle[0]
    tight = controller_view(s.state, 500)  # only the task and the last exchange stay whole
    assert tight[-2:] == s.transcript[-2:] and tight[-3]["content"].startswith('Observation: {"tool"')
    assert tight[-4]["content"].startswith("Action: noop")


def test_runs_are_found_from_their_records_not_from_the_prompt_wording():
    """The task prompt's wording is free, and a task or a thought may say "Task:" or "Final Answer:"."""

    def worded(text: str, listing: str, count: int) -> str:
        return f"Here is a new job for you.\n{text}\n\nYou may use ({count} in all):\n{listing}"

    s = Session(task_message=worded)
    for i in range(8):
        (img,) = s.task(f"Task: read sign {i}. Final Answer: must be in French")
        s.call("ocr", {"image": img}, ocr_lines(40))
        if i % 2:
            s.transcript.append({"role": "assistant", "content": "Final Answer: I cannot yet\nAction: crop"})
            s.fail("the controller's replies could not be used")
        else:
            s.answer(f"le panneau {i} dit bonjour")
    s.task("Final Answer: what did sign 3 say?", images=0)
    view = controller_view(s.state, 700)  # task messages list only new artifacts: 700 leaves 4 to summarise
    check_valid(view)
    assert estimate_tokens(view) <= 700 and view[-1] == s.transcript[-1]
    summary = view[0]["content"]
    assert summary.startswith(SUMMARY_HEADER)
    lines = {line.split('"')[0].strip(): line for line in summary.splitlines() if line.startswith("- Task ")}
    assert '"Task: read sign 0. Final Answer: must be in French"' in lines["- Task 1"]
    assert "inputs image-1; produced boxes-1 → answered: le panneau 0 dit bonjour" in lines["- Task 1"]
    assert "→ failed: the controller's replies could not be used" in lines["- Task 4"]  # said "Final Answer:"
    seen = "\n".join(m["content"] for m in view)
    assert all(h in seen for h in s.artifacts)


def test_lines_count_failed_calls_and_say_how_a_run_was_stopped():
    s = busy_session(3)
    (img,) = s.task("crop twice")
    s.call("crop", {"image": img, "box": [0, 0, 900, 9]}, error="box extends past the 64x48 image")
    s.call("crop", {"image": img, "box": [0, 0, 9, 9]}, {"image": {"new": "image", "size": [9, 9]}})
    s._end(status="cancelled", failure="the task was cancelled")
    s.task("and then?", images=0)
    s._end(status="interrupted", failure="the process stopped during the run")
    s.task("and now?", images=0)
    # task messages list only new artifacts: 320 tokens leave every earlier task to the summary
    summary = controller_view(s.state, 320)[0]["content"]
    assert '- Task 5 "and then?": tools none → interrupted: the process stopped during the run' in summary
    line = next(line for line in summary.splitlines() if line.startswith("- Task 4 "))
    assert (
        "tools crop x2 (1 failed); inputs image-7; produced image-8 → stopped: the task was cancelled" in line
    )


def test_old_observations_are_shortened_from_their_step_records():
    s = Session()
    (img,) = s.task("threshold it")
    output = {"mask": {"new": "mask", "size": [64, 48]}, "note": "mask-9 is not an artifact " * 20}
    s.call("threshold", {"image": img, "level": 9}, output)
    s.call("crop", {"image": img, "box": [0, 0, 9, 9]}, error="box too small " * 40)
    s.call("noop", {"payload": "p"}, {"echo": "long " * 100})
    for i in range(3):
        s.call("noop", {"payload": f"p{i}"}, {"echo": f"p{i}"})
    view = [m["content"] for m in controller_view(s.state, estimate_tokens(s.transcript) - 100)]
    threshold, crop, noop = view[2:7:2]
    assert threshold == "Observation: threshold → mask-1 (64x48) [shortened]"  # not the mask-9 of its text
    assert crop.startswith("Observation: crop → error: box too small box") and crop.endswith("… [shortened]")
    assert noop.startswith('Observation: noop → {"echo": "long long') and noop.endswith("… [shortened]")
    assert max(len(crop), len(noop)) < 220
