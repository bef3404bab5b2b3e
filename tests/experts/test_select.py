"""The select expert: filter a boxes artifact by label, score, top-k and size."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from experts._boxes import matches
from experts.base import BoxesData, ExpertError
from experts.select import Select
from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed
from tests.experts.pixels import call, sign

DETECTIONS = [
    {"box": [0, 0, 10, 10], "label": "red car", "score": 0.9},
    {"box": [0, 0, 50, 40], "label": "person", "score": 0.6},
    {"box": [5, 5, 25, 25], "label": "Car", "score": 0.75},
    {"box": [0, 0, 30, 30], "label": "carpet", "score": 0.95},
    {"box": [0, 0, 4, 4], "label": "car"},  # no score
]


def boxes(items: list[dict] = DETECTIONS) -> BoxesData:
    return BoxesData("boxes-1", items)


def test_labels_match_whole_words_ignoring_case() -> None:
    assert matches("red car", "car") and matches("Car", "CAR") and matches("traffic light", "traffic light")
    assert not matches("carpet", "car") and not matches("light", "traffic light") and not matches("car", "")
    out = call(Select, boxes=boxes(), labels=["car"])
    assert out.indices == [0, 2, 4] and out.count == 3
    assert out.boxes.items == [DETECTIONS[0], DETECTIONS[2], DETECTIONS[4]]  # unchanged, input order


def test_min_score_drops_unscored_items() -> None:
    assert call(Select, boxes=boxes(), min_score=0.7).indices == [0, 2, 3]


def test_top_k_is_best_first_with_unscored_items_last() -> None:
    assert call(Select, boxes=boxes(), top_k=2).indices == [3, 0]
    assert call(Select, boxes=boxes(), labels=["car"], top_k=5).indices == [0, 2, 4]


def test_largest_ranks_by_box_area() -> None:
    out = call(Select, boxes=boxes(), largest=2)
    assert out.indices == [1, 3] and [item["label"] for item in out.boxes.items] == ["person", "carpet"]


def test_nothing_left_is_an_empty_artifact_not_an_error() -> None:
    out = call(Select, boxes=boxes(), labels=["zebra"])
    assert out.count == 0 and out.boxes.items == [] and out.indices == []


def test_ranking_twice_and_bad_items_are_refused() -> None:
    with pytest.raises(ValidationError, match="'top_k' \\(by score\\) or 'largest' \\(by area\\), not both"):
        Select.Input.model_validate({"boxes": "boxes-1", "top_k": 1, "largest": 1})
    with pytest.raises(ValidationError, match="is a image handle but a boxes handle"):
        Select.Input.model_validate({"boxes": "image-1"})
    with pytest.raises(ExpertError, match="item 1 of boxes-1 has no box"):
        call(Select, boxes=boxes([{"box": [0, 0, 1, 1]}, {"label": "x"}]), largest=1)


@pytest.mark.ray
def test_in_the_react_loop(orch) -> None:
    turns = [
        'Thought: read\nAction: ocr\nAction Input: {"image": "image-1"}',
        'Thought: keep exits\nAction: select\nAction Input: {"boxes": "boxes-1", "labels": ["exit"], '
        '"top_k": 1}',
        "Thought: done\nFinal Answer: boxes-2",
    ]
    with deployed(orch, "select"):
        result = orch.run("the best exit line", images=[sign()], chat_model=ScriptedChatModel(turns))
    assert result.ok, result.failure
    step = [s for s in result.steps if s.tool][1]
    output = json.loads(step.observation)["output"]
    assert step.error is None and output["count"] == 1 and output["indices"][0] in (0, 2)
    (kept,) = result.artifacts["boxes-2"].load()
    assert kept["text"].startswith("EXIT") and result.artifacts["boxes-2"].parents == ["boxes-1"]
