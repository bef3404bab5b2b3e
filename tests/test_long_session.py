"""A 50-task session: every run works, the controller's view stays within budget, nothing is lost."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from llm.base import ChatMessage
from llm.scripted import ScriptedChatModel
from orchestrator.agent.memory import SUMMARY_HEADER, estimate_tokens

pytestmark = pytest.mark.ray

RUNS = 50
BUDGET = 1500
SESSION = "long"


def newest_input(messages: list[ChatMessage]) -> str:
    """The newest input image the task message lists (it lists the artifacts new with the task)."""
    task = next(m["content"] for m in reversed(messages) if m["content"].startswith("Task: "))
    return re.findall(r"^- (image-\d+): image 8x6, input image$", task, re.MULTILINE)[-1]


def invert_newest(messages: list[ChatMessage]) -> str:
    arguments = json.dumps({"image": newest_input(messages)})
    return f"Thought: invert the new image\nAction: invert\nAction Input: {arguments}"


def script(i: int) -> ScriptedChatModel:
    """Even runs invert a small image; odd runs call noop without images."""
    if i % 2 == 0:
        first = invert_newest
    else:
        first = f'Thought: check\nAction: noop\nAction Input: {{"payload": "run {i}"}}'
    return ScriptedChatModel([first, f"Thought: done\nFinal Answer: run {i} finished; see its artifacts"])


@pytest.fixture
def small_budget(orch):
    before = orch.config.context_budget_tokens
    orch.config.context_budget_tokens = BUDGET
    yield
    orch.config.context_budget_tokens = before


def test_fifty_tasks_in_one_session(orch, small_budget):
    image = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(6, 8, 3)
    controllers = []
    for i in range(RUNS):
        controller = script(i)
        result = orch.run(
            f"job {i}: " + ("invert this small image" if i % 2 == 0 else "check the expert is alive"),
            images=[image] if i % 2 == 0 else None,
            session=SESSION,
            chat_model=controller,
        )
        assert result.ok, (i, result.failure)
        assert controller.calls == 2
        controllers.append(controller)
    # The first run produced image-2 from image-1.
    assert controllers[0].seen[1][-1]["content"].count('"handle": "image-2"') == 1

    stored = orch.graph.get_state({"configurable": {"thread_id": SESSION}}).values["transcript"]
    assert sum(m["content"].startswith("Task: ") for m in stored) == RUNS
    # the memory keeps everything (task messages list new artifacts only)
    assert estimate_tokens(stored) > 3 * BUDGET

    for controller in controllers[-10:]:
        for messages in controller.seen:
            view = messages[1:]  # after the system prompt
            assert estimate_tokens(view) <= BUDGET
            assert view[0]["content"].startswith(SUMMARY_HEADER)
    last = controllers[-1].seen[-1][1:]
    summary, task = last[0]["content"], last[1]["content"]
    assert task.startswith(f"Task: job {RUNS - 1}:")
    # the last task brought no image: its message lists none, only how many the session holds (50)
    assert "Artifacts in this session: 50 in all" in task and "New with this task:\n(none)" in task
    for handle in ("image-1", "image-2"):  # the first run's artifacts: named in the summary, not re-listed
        assert re.search(rf"\b{handle}\b", summary) and not re.search(rf"\b{handle}\b", task)
    # the last image task's message lists its own new image only
    image_task = controllers[-2].seen[0][-1]["content"]
    assert newest_input(controllers[-2].seen[0]) == "image-49"
    assert re.findall(r"\bimage-\d+\b", image_task) == ["image-49"]
    assert "Task 49 " in summary and "run 48 finished" in summary  # the newest earlier task in detail
    assert last[-1]["content"].startswith('Observation: {"tool": "noop"')


def test_each_run_leaves_a_structured_record(orch):
    """What the memory reads: one record per run, where its task message is, and how it ended."""
    session = "records"
    image = np.zeros((6, 8, 3), dtype=np.uint8)
    invert = 'Thought: invert\nAction: invert\nAction Input: {"image": "image-1"}'
    good = orch.run(
        "Task: invert it",
        images=[image],
        session=session,
        chat_model=ScriptedChatModel([invert, "Final Answer: ok"]),
    )
    bad = orch.run(
        "Final Answer: say nothing", session=session, chat_model=ScriptedChatModel(["no format"] * 4)
    )
    assert good.ok and not bad.ok
    values = orch.graph.get_state({"configurable": {"thread_id": session}}).values
    runs, transcript = values["runs"], values["transcript"]
    assert [(r["run_id"], r["task"], r["inputs"], r["status"]) for r in runs] == [
        (good.run_id, "Task: invert it", ["image-1"], "answered"),
        (bad.run_id, "Final Answer: say nothing", [], "failed"),
    ]
    assert runs[0]["answer"] == "ok" and runs[1]["failure"] == bad.failure
    assert runs[0]["transcript_start"] == 0 < runs[1]["transcript_start"] < len(transcript)
    for run in runs:
        first = transcript[run["transcript_start"]]
        assert first["role"] == "user" and run["task"] in first["content"]
