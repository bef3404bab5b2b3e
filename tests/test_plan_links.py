"""Result.plans links each plan step to the trace steps that ran it (``plan_step`` on each step)."""

from __future__ import annotations

from typing import Any

from orchestrator.result import _link_plans


def _step(index: int, tool: str | None, thought: str, **extra: Any) -> dict[str, Any]:
    return {"index": index, "tool": tool, "thought": thought, "observation": "", **extra}


PLAN = [
    {"id": 0, "tool": "video_frames", "arguments": {"video": "video-1"}, "dependencies": []},
    {"id": 1, "tool": "ocr", "arguments": {"image": "<step-0>"}, "dependencies": [0], "map": ["image"]},
    {"id": 2, "tool": "noop", "arguments": {"payload": "<step-1>"}, "dependencies": [1]},
]


def test_every_call_of_a_map_step_is_linked_by_its_plan_step() -> None:
    steps = [
        _step(0, "video_frames", "plan step 0", plan_step=0),
        *(_step(i, "ocr", f"plan step 1, map item {i - 1} (of 3, from 0)", plan_step=1) for i in (1, 2, 3)),
    ]
    (nodes,) = _link_plans([PLAN], steps)  # type: ignore[arg-type]
    assert [(n.step, n.steps) for n in nodes] == [(0, [0]), (1, [1, 2, 3]), (None, [])]
    assert nodes[1].map == ["image"] and nodes[0].map is None


def test_steps_recorded_before_plan_step_existed_are_linked_by_their_thought() -> None:
    steps = [
        _step(0, "video_frames", "plan step 0"),
        _step(1, "ocr", "plan step 1, map item 0 (of 1, from 0)"),
    ]
    (nodes,) = _link_plans([PLAN], steps)  # type: ignore[arg-type]
    assert [n.steps for n in nodes] == [[0], [1], []]


def test_a_controller_call_whose_thought_mentions_a_plan_step_is_not_linked() -> None:
    steps = [
        _step(0, "video_frames", "plan step 0", plan_step=0),
        _step(1, "ocr", "redo plan step 1", plan_step=None),
    ]
    (nodes,) = _link_plans([PLAN], steps)  # type: ignore[arg-type]
    assert nodes[1].steps == []
