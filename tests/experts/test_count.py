"""The count expert, and select → count over OCR lines through Serve (plan and ReAct loop)."""

from __future__ import annotations

import json

import pytest

from experts.base import BoxesData
from experts.count import Count
from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed
from tests.experts.pixels import call, sign

DETECTIONS = [
    {"box": [0, 0, 10, 10], "label": "person", "score": 0.9},
    {"box": [0, 0, 10, 10], "label": "red car", "score": 0.4},
    {"box": [0, 0, 10, 10], "label": "person", "score": 0.8},
    {"box": [0, 0, 10, 10], "label": "car", "score": 0.7},
    {"box": [0, 0, 10, 10], "text": "EXIT"},
    {"box": [0, 0, 10, 10]},
]


def boxes() -> BoxesData:
    return BoxesData("boxes-1", DETECTIONS)


def test_counts_every_label_most_frequent_first() -> None:
    out = call(Count, boxes=boxes())
    assert out.counts == {"person": 2, "red car": 1, "car": 1, "EXIT": 1, "object": 1}
    assert next(iter(out.counts)) == "person" and out.total == 6
    assert out.text.text == "2 person, 1 red car, 1 car, 1 EXIT, 1 object (6 in all)"


def test_counts_asked_labels_with_zero_for_absent_ones() -> None:
    out = call(Count, boxes=boxes(), labels=["car", "red car", "dog"], min_score=0.5)
    assert out.counts == {"car": 1, "red car": 0, "dog": 0} and out.total == 1
    both = call(Count, boxes=boxes(), labels=["car", "red car"])
    assert both.counts == {"car": 2, "red car": 1} and both.total == 2  # "red car" is counted once in total


def test_nothing_to_count() -> None:
    out = call(Count, boxes=BoxesData("boxes-2", []))
    assert out.counts == {} and out.total == 0 and out.text.text == "0 items"


@pytest.mark.ray
def test_select_then_count_ocr_lines_in_a_plan(orch) -> None:
    plan = [
        {"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "select", "arguments": {"boxes": "<step-0>", "labels": ["exit"]}},
        {"id": 2, "tool": "count", "arguments": {"boxes": "<step-1>", "labels": ["north", "south", "west"]}},
    ]
    with deployed(orch, "select"), deployed(orch, "count"):
        result = orch.run_plan(plan, images=[sign()])
    assert result.ok, result.failure
    assert [item["text"] for item in result.artifacts["boxes-2"].load()] == ["EXIT NORTH", "EXIT SOUTH"]
    assert result.artifacts["boxes-2"].parents == ["boxes-1"]
    counted = json.loads([s for s in result.steps if s.tool][2].observation)["output"]
    assert counted["counts"] == {"north": 1, "south": 1, "west": 0} and counted["total"] == 2
    assert result.artifacts["text-1"].load() == "1 north, 1 south, 0 west (2 in all)"


@pytest.mark.ray
def test_count_in_the_react_loop(orch) -> None:
    turns = [
        'Thought: read\nAction: ocr\nAction Input: {"image": "image-1"}',
        'Thought: count\nAction: count\nAction Input: {"boxes": "boxes-1", "labels": ["exit"]}',
        "Thought: done\nFinal Answer: two exits",
    ]
    with deployed(orch, "count"):
        result = orch.run("how many exits?", images=[sign()], chat_model=ScriptedChatModel(turns))
    assert result.ok, result.failure
    steps = [s for s in result.steps if s.tool]
    assert [s.error for s in steps] == [None, None]
    assert json.loads(steps[1].observation)["output"]["counts"] == {"exit": 2}
