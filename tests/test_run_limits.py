"""A run keeps its own limits when it is resumed or approved: its steps budget, its deadline and the
recursion limit its plan needs, checkpointed with it (not the config's ``max_steps``).

No Ray: the real graph, runner and SQLite checkpointer; ``gate`` is a ``noop`` whose calls wait for
approval, so a run stops and is continued by ``Runner.resume`` as ``Orchestrator.approve`` does.
The process-kill version (a 60-step plan, SIGKILLed, resumed in a new process) is in
``tests/test_durability.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.offline_session import OfflineSession, noop_call


@pytest.fixture
def session(tmp_path: Path) -> Any:
    s = OfflineSession(tmp_path, max_steps=6, approval_required=["gate"])
    yield s
    s.close()


def test_an_approved_run_keeps_its_steps_budget(session):
    waiting, _ = session.run("two turns at most", [noop_call("first", "gate")], steps=2)
    assert waiting.status == "pending"
    assert session.runner.values("s")["limits"]["max_steps"] == 2
    more = [noop_call("second"), noop_call("third"), noop_call("fourth"), "Final Answer: too late"]
    result = session.approve(more)
    assert result.status == "failed" and "after 2 controller turns" in (result.failure or "")
    assert [s.tool for s in result.steps] == ["gate", "noop"]  # the config's 6 turns would have answered


def test_an_approved_run_keeps_its_deadline(session):
    waiting, _ = session.run("soon", [noop_call("first", "gate")], deadline_s=0.2)
    assert waiting.status == "pending"
    time.sleep(0.3)  # the person approves after the run's deadline
    result = session.approve(["Final Answer: done"])
    assert result.status == "cancelled" and "deadline passed" in (result.failure or "")
    assert result.steps[0].error_type == "cancelled"  # the approved call was not run after its deadline


def test_a_resumed_run_may_be_given_new_limits(session):
    session.run("two turns at most", [noop_call("first", "gate")], steps=2)
    result = session.runner.resume(
        "s",
        _controller([noop_call("second"), noop_call("third"), "Final Answer: done"]),
        command=_approve(),
        steps_budget=5,
    )
    assert list(result)[-1].result.status == "answered"


def test_a_resumed_plan_keeps_the_recursion_limit_of_its_length(session):
    """A 60-step chain pauses for approval at step 5; approved, it runs the other 56 steps: 168 graph
    steps, more than the 96 that the config's max_steps of 6 allows one invocation."""
    steps = [
        {
            "id": i,
            "tool": "gate" if i == 5 else "noop",
            "arguments": {"payload": f"<step-{i - 1}>.echo" if i > 1 else "start"},
            "dependencies": [i - 1] if i > 1 else [],
        }
        for i in range(1, 61)
    ]
    waiting = session.run_plan(steps, task="sixty steps")
    assert waiting.status == "pending" and len(waiting.steps) == 4
    assert session.runner.values("s")["limits"]["recursion_limit"] >= 3 * 60
    result = session.approve()
    assert result.status == "answered", result.failure
    assert result.answer is not None and result.answer.startswith("The plan ran all 60 steps")
    assert len(result.steps) == 60 and not [s for s in result.steps if s.error]


def _controller(script: list[Any]) -> Any:
    from llm.scripted import ScriptedChatModel

    return ScriptedChatModel(script)


def _approve() -> Any:
    from langgraph.types import Command

    return Command(resume={"approved": True, "reason": None})
