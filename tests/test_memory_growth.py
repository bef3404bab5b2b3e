"""A long session's cost stays flat: checkpoints store what a step added, task messages list what is new.

No Ray: the real graph, runner and SQLite checkpointer with ``noop`` served in process
(``tests/support/offline_session.py``). Sizes are asserted in bytes, never in time.
"""

from __future__ import annotations

import operator
import re
import statistics
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from orchestrator.agent.state import merge_artifacts, merge_runs
from tests.support.offline_session import OfflineSession, noop_call, small_image


def task(s: OfflineSession, i: int, **options: Any) -> Any:
    """Task ``i``: one new image, one noop call, an answer."""
    result, controller = s.run(
        f"job {i}",
        [noop_call(f"task {i}"), f"Thought: done\nFinal Answer: job {i} done"],
        images=[small_image(i)],
    )
    assert result.ok, result.failure
    return result, controller


@pytest.fixture
def session(tmp_path: Path) -> Any:
    s = OfflineSession(tmp_path)
    yield s
    s.close()


def test_what_a_task_stores_does_not_grow_with_the_session(session):
    """Each checkpoint holds its step's writes, not the history again (the history's channels snapshot
    every few tasks, so totals grow about linearly, not quadratically)."""
    sizes: dict[int, tuple[int, list[int]]] = {}
    for i in range(1, 51):
        before, checkpoints = session.stored_bytes(), len(session.checkpoint_sizes())
        task(session, i)
        sizes[i] = (session.stored_bytes() - before, session.checkpoint_sizes()[checkpoints:])
    early = [c for i in range(6, 16) for c in sizes[i][1]]
    late = [c for i in range(41, 51) for c in sizes[i][1]]
    # a typical checkpoint of task 41-50 is the size of one of task 6-15: it holds no history
    assert statistics.median(late) <= 1.1 * statistics.median(early)
    # what tasks 41-50 stored, snapshots included, is close to what tasks 6-15 stored (it was 7x)
    assert sum(sizes[i][0] for i in range(41, 51)) <= 2 * sum(sizes[i][0] for i in range(6, 16))


def test_a_task_message_lists_the_new_artifacts_and_a_count(session):
    task(session, 1)
    task(session, 2)
    _, controller = task(session, 3)
    message = controller.seen[0][-1]["content"]
    assert message.startswith("Task: job 3")
    assert "- image-3: image 8x6, input image" in message
    assert "Artifacts in this session: 3 in all" in message
    assert not re.search(r"\bimage-[12]\b", message)  # the earlier ones are not listed again
    # the controller still sees every earlier handle (here: the earlier task messages, verbatim)
    seen = "\n".join(m["content"] for m in controller.seen[0])
    assert "image-1" in seen and "image-2" in seen


def test_history_and_time_travel_read_back_exactly(tmp_path):
    session = OfflineSession(tmp_path, snapshot_every=5)  # many snapshots of every history channel
    for i in range(1, 24):
        task(session, i)
    thread = {"configurable": {"thread_id": "s"}}
    snapshots = [t for t in session.saver.list(thread) if "transcript" in t.checkpoint["channel_values"]]
    assert len(snapshots) >= 10  # the reads below replay writes on top of many different snapshots
    latest = session.graph.get_state(thread).values
    assert [r["task"] for r in latest["runs"]] == [f"job {i}" for i in range(1, 24)]
    assert len(latest["artifacts"]) == 23 and len(latest["steps"]) == 2 * 23
    # the same state read back by another process (a fresh saver on the same file)
    other = OfflineSession(tmp_path)
    assert other.graph.get_state(thread).values == latest
    other.close()
    # time travel: every earlier checkpoint reads back the session as it was then
    ended = [
        snapshot
        for snapshot in session.graph.get_state_history(thread)
        if not snapshot.next and snapshot.values.get("status") == "answered"
    ]
    assert len(ended) == 23
    for snapshot in ended:
        n = len(snapshot.values["runs"])
        assert snapshot.values["runs"][-1]["task"] == f"job {n}"
        assert len(snapshot.values["transcript"]) == 4 * n and len(snapshot.values["artifacts"]) == n
    # a fork from the end of task 7 continues from there; the other branch is untouched
    seventh = next(s for s in ended if len(s.values["runs"]) == 7)
    session.graph.update_state(seventh.config, {"answer": "job 7 done (forked)"}, as_node="finish")
    forked = session.runner.values("s")
    assert len(forked["runs"]) == 7 and forked["answer"] == "job 7 done (forked)"
    result, controller = task(session, 8)
    assert sorted(result.artifacts) == [f"image-{i}" for i in range(1, 9)]
    assert "Artifacts in this session: 8 in all" in controller.seen[0][-1]["content"]
    assert session.graph.get_state(ended[0].config).values == latest  # the newest end of the old branch
    session.close()


class _OldState(TypedDict, total=False):
    """The session state as checkpoints stored it before the history fields were delta channels."""

    run_id: str
    task: str
    transcript: Annotated[list[dict[str, Any]], operator.add]
    artifacts: Annotated[dict[str, Any], merge_artifacts]
    steps: Annotated[list[dict[str, Any]], operator.add]
    runs: Annotated[list[dict[str, Any]], merge_runs]
    status: str
    answer: str | None


def test_sessions_checkpointed_before_delta_channels_load_and_continue(tmp_path):
    from langgraph.checkpoint.sqlite import SqliteSaver

    old = OfflineSession(tmp_path)  # makes the file; its graph is not used
    graph = StateGraph(_OldState)
    graph.add_node("finish", lambda state: {})
    graph.add_edge(START, "finish")
    graph.add_edge("finish", END)
    record = {
        "handle": "image-1",
        "id": "a" * 64,
        "kind": "image",
        "shape": [6, 8],
        "producer_step": 0,
        "producer": "input",
        "parents": [],
        "uri": "aa/" + "a" * 64 + ".png",
    }
    state = {
        "run_id": "old-run",
        "task": "an old task",
        "transcript": [
            {"role": "user", "content": "Task: an old task"},
            {"role": "assistant", "content": "hi"},
        ],
        "artifacts": {"image-1": record},
        "steps": [],
        "runs": [{"run_id": "old-run", "task": "an old task", "inputs": ["image-1"], "transcript_start": 0}],
        "status": "answered",
        "answer": "hi",
    }
    graph.compile(checkpointer=SqliteSaver(old.connection)).invoke(
        state, {"configurable": {"thread_id": "s"}}
    )
    old.close()

    s = OfflineSession(tmp_path)
    assert s.runner.unfinished("s") is None
    values = s.runner.values("s")
    assert values["transcript"] == state["transcript"] and values["artifacts"] == state["artifacts"]
    result, controller = task(s, 2)
    assert sorted(result.artifacts) == ["image-1", "image-2"]  # numbering goes on from the old table
    seen = controller.seen[0]
    assert seen[1]["content"] == "Task: an old task" and "1 earlier" not in seen[-1]["content"]
    assert [r["task"] for r in s.runner.values("s")["runs"]] == ["an old task", "job 2"]
    s.close()
