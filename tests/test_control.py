"""Streaming, human approval, cancellation, deadlines, and resuming an interrupted run."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from llm.base import ChatMessage
from llm.scripted import ScriptedChatModel
from orchestrator import InputError, Orchestrator
from tests.experts.harness import deployed
from tests.support.experts import Sleepy

pytestmark = pytest.mark.ray

ACT_INVERT = 'Thought: invert it\nAction: invert\nAction Input: {"image": "image-1"}'


def image() -> np.ndarray:
    return np.full((8, 8, 3), 40, np.uint8)


def test_stream_yields_typed_events_in_order(orch):
    script = ScriptedChatModel([ACT_INVERT, "Thought: done\nFinal Answer: image-2"])
    events = list(orch.stream("invert", images=[image()], chat_model=script))
    types = [e.type for e in events]
    assert types == ["start", "thought", "tool_start", "tool_end", "answer", "end"]
    assert events[0].inputs == ["image-1"]
    assert events[2].tool == "invert" and events[3].new_handles == ["image-2"]
    assert events[-1].result.ok and events[-1].result.answer == "image-2"


def test_stream_reports_plans_and_recoverable_errors(orch):
    plan = 'Thought: plan\nPlan: [{"id": 0, "tool": "invert", "arguments": {"image": "image-1"}}]'
    script = ScriptedChatModel(["no format at all", plan, "Final Answer: ok"])
    types = [e.type for e in orch.stream("invert", images=[image()], chat_model=script)]
    assert types == ["start", "error", "plan", "tool_start", "tool_end", "answer", "end"]


@pytest.fixture()
def approvals(orch):
    orch.config.approval_required = ["invert"]
    yield orch
    orch.config.approval_required = []


def test_approval_pauses_then_approve_continues(approvals):
    orch = approvals
    script = ScriptedChatModel([ACT_INVERT, "Thought: done\nFinal Answer: image-2"])
    pending = orch.run("invert", images=[image()], session="hitl-yes", chat_model=script)
    assert pending.status == "pending" and pending.approval == [
        {"tool": "invert", "arguments": {"image": "image-1"}}
    ]
    assert orch.pending_run("hitl-yes")["awaiting_approval"]
    with pytest.raises(InputError, match="waiting for approval"):
        orch.run("something else", session="hitl-yes", chat_model=ScriptedChatModel(["Final Answer: x"]))
    done = orch.approve("hitl-yes", chat_model=script)
    assert done.ok and done.artifacts["image-2"].producer == "invert"


def test_deny_becomes_an_observation(approvals):
    orch = approvals
    script = ScriptedChatModel(
        [ACT_INVERT, "Thought: not allowed\nFinal Answer: I was not allowed to invert it"]
    )
    orch.run("invert", images=[image()], session="hitl-no", chat_model=script)
    result = orch.session("hitl-no").deny(reason="keep the colours", chat_model=script)
    assert result.ok and "image-2" not in result.artifacts
    assert "a person denied this call: keep the colours" in result.steps[0].error
    assert "denied" in script.seen[1][-1]["content"]


def test_approval_from_another_orchestrator_on_the_same_store(approvals, data_dir):
    orch = approvals
    script = ScriptedChatModel([ACT_INVERT, "Thought: done\nFinal Answer: image-2"])
    assert orch.run("invert", images=[image()], session="hitl-other", chat_model=script).status == "pending"
    config = orch.config.model_copy(deep=True)
    other = Orchestrator.local(config, deploy=False)  # attaches to the running experts
    try:
        done = other.approve("hitl-other", chat_model=script)
    finally:
        other.close()
    assert done.ok and done.artifacts["image-2"].parents == ["image-1"]


@pytest.fixture(scope="module")
def slow(orch):
    with deployed(orch, Sleepy, name="slow", timeout_s=30, num_replicas=1) as name:
        yield name


def test_cancel_stops_a_running_task_and_keeps_its_work(orch, slow):
    script = ScriptedChatModel(
        [ACT_INVERT, 'Thought: wait\nAction: slow\nAction Input: {"seconds": 20}', "Final Answer: never"]
    )
    results = []
    runner = threading.Thread(
        target=lambda: results.append(
            orch.run("invert then wait", images=[image()], session="cancel-me", chat_model=script)
        )
    )
    runner.start()
    deadline = time.time() + 30
    while script.calls < 2 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert orch.cancel("cancel-me")
    runner.join(timeout=15)
    assert not runner.is_alive()
    (result,) = results
    assert result.status == "cancelled" and "cancelled" in result.failure
    assert "image-2" in result.artifacts  # the work done before the cancel is kept
    assert "not finished: the task was cancelled" in result.steps[-1].error
    assert result.seconds < 15
    assert not orch.cancel("cancel-me")  # nothing runs any more


def test_deadline_stops_issuing_calls(orch, slow):
    script = ScriptedChatModel(
        ['Thought: wait\nAction: slow\nAction Input: {"seconds": 10}', "Final Answer: x"]
    )
    result = orch.run("wait", chat_model=script, deadline_s=1.0)
    assert result.status == "cancelled" and "deadline passed" in result.failure
    assert result.seconds < 8 and script.calls == 1
    with pytest.raises(InputError, match="deadline_s"):
        orch.run("wait", chat_model=script, deadline_s=-1)


class _Crash(BaseException):
    """Stands in for the process dying in the middle of a run."""


def test_interrupted_run_can_be_resumed_or_is_reported(orch):
    def crash(messages: list[ChatMessage]) -> str:
        raise _Crash()

    with pytest.raises(_Crash):
        orch.run(
            "invert twice",
            images=[image()],
            session="crashy",
            chat_model=ScriptedChatModel([ACT_INVERT, crash]),
        )
    unfinished = orch.pending_run("crashy")
    assert unfinished["task"] == "invert twice" and unfinished["next"] == ["think"]
    assert not unfinished["awaiting_approval"] and unfinished["steps"] == 1
    resumed = orch.resume("crashy", chat_model=ScriptedChatModel(["Thought: back\nFinal Answer: image-2"]))
    assert resumed.ok and resumed.answer == "image-2" and [s.tool for s in resumed.steps] == ["invert", None]
    assert orch.pending_run("crashy") is None

    with pytest.raises(_Crash):
        orch.run("again", session="crashy", chat_model=ScriptedChatModel([crash]))
    later = orch.run(
        "what do we have?", session="crashy", chat_model=ScriptedChatModel(["Final Answer: image-2"])
    )
    assert later.ok and len(later.interrupted_runs) == 1
    assert "was interrupted" in orch.session("crashy").transcript[-3]["content"]
