"""Map steps: validated like one call, expanded into one call per item, their results collected in order."""

from __future__ import annotations

from typing import Any

import pytest

from experts.registry import load_expert_class
from orchestrator.agent.nodes.plan_wave import _map_calls
from orchestrator.agent.plan import PlanError, validate_plan
from orchestrator.agent.plan_kinds import ANY
from orchestrator.agent.plan_map import record_result
from orchestrator.agent.plan_refs import Resolver, UnresolvedReference
from orchestrator.agent.plan_validate import input_wants, output_kind
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue


@pytest.fixture(scope="module")
def catalogue() -> ExpertCatalogue:
    catalogue = ExpertCatalogue()
    for name in ("ocr", "crop", "video_frames"):
        catalogue.add(DeployedExpert(name, load_expert_class(name), handle=None, app_name=name, timeout_s=5))  # type: ignore[arg-type]
    return catalogue


def frames_then(step: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": 0, "tool": "video_frames", "arguments": {"video": "video-1", "count": 3}}, step]


def test_a_map_step_is_validated_as_one_call_and_kept_in_the_plan(catalogue) -> None:
    plan = validate_plan(
        frames_then({"id": 1, "tool": "ocr", "arguments": {"image": "<step-0>"}, "map": "image"}),
        catalogue,
        handles={"video-1"},
    )
    assert plan.step(1).map == ["image"] and plan.step(1).dependencies == [0]
    assert plan.to_json()[1]["map"] == ["image"] and plan.to_json()[0]["map"] is None
    listed = validate_plan(
        [
            {
                "id": 0,
                "tool": "crop",
                "arguments": {"image": ["image-1", "image-2"], "box": [[0, 0, 2, 2], [1, 1, 3, 3]]},
                "map": ["image", "box"],
            }
        ],
        catalogue,
        handles={"image-1", "image-2"},
    )
    assert listed.step(0).map == ["image", "box"]


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        (
            {"arguments": {"image": "<step-0>"}, "map": "picture"},
            "'map' names 'picture', which is not one of",
        ),
        (
            {"arguments": {"image": "image-1"}, "map": "image"},
            "must be a list or a reference to an earlier step",
        ),
        ({"arguments": {"image": []}, "map": "image"}, "'image' is an empty list"),
        ({"arguments": {"image": "<step-0>"}, "map": 3}, "'map' must name the argument"),
        ({"arguments": {"image": ["image-1", "image-9"]}, "map": "image"}, "there is no artifact 'image-9'"),
        ({"arguments": {"image": ["image-1", 7]}, "map": "image"}, None),  # the schema checks the first only
    ],
)
def test_a_wrong_map_step_is_refused_before_it_runs(catalogue, step: dict, problem: str | None) -> None:
    plan = frames_then({"id": 1, "tool": "ocr"} | step)
    if problem is None:
        validate_plan(plan, catalogue, handles={"video-1", "image-1"})
        return
    with pytest.raises(PlanError) as info:
        validate_plan(plan, catalogue, handles={"video-1", "image-1"})
    assert any(problem in p for p in info.value.problems), info.value.problems


FRAMES = {
    "0": {
        "ok": True,
        "handles": {"image": ["image-2", "image-3", "image-4"]},
        "output": {
            "frames": [
                {"image": {"handle": f"image-{i + 2}", "size": [8, 6]}, "time": i * 0.5} for i in range(3)
            ]
        },
        "error": None,
    }
}


def _no_artifacts(handle: str) -> Any:
    raise UnresolvedReference(f"there is no artifact '{handle}' in this session")


def calls(step: dict[str, Any], results: dict[str, Any] = FRAMES) -> tuple[list[dict], dict[str, Any]]:
    """The calls a map step makes after a video_frames step 0 (its results: ``results``)."""
    wants = input_wants(load_expert_class(step["tool"]).Input)
    frames = output_kind(load_expert_class("video_frames").Output)
    resolver = Resolver(results, lambda step_id: frames if step_id == 0 else ANY, _no_artifacts)
    failed: dict[str, Any] = {}
    made = _map_calls(step, wants, resolver, results, failed)
    return [dict(c) for c in made], failed


def test_a_map_over_a_step_runs_once_per_artifact_it_made() -> None:
    made, failed = calls({"id": 1, "tool": "ocr", "arguments": {"image": "<step-0>"}, "map": ["image"]})
    assert failed == {}
    assert [c["arguments"] for c in made] == [{"image": f"image-{i}"} for i in (2, 3, 4)]
    assert [(c["plan_step"], c["map_index"]) for c in made] == [(1, 0), (1, 1), (1, 2)]
    by_field, _ = calls({"id": 1, "tool": "ocr", "arguments": {"image": "<step-0>.frames"}, "map": ["image"]})
    assert [c["arguments"]["image"] for c in by_field] == ["image-2", "image-3", "image-4"]
    zipped, _ = calls(
        {
            "id": 1,
            "tool": "crop",
            "arguments": {
                "image": "<step-0>",
                "box": [[0, 0, 1, 1], [0, 0, 2, 2], [0, 0, 3, 3]],
                "padding": 1,
            },
            "map": ["image", "box"],
        }
    )
    assert [c["arguments"] for c in zipped][2] == {"padding": 1, "image": "image-4", "box": [0, 0, 3, 3]}


def test_a_map_that_cannot_expand_fails_its_step() -> None:
    _, uneven = calls(
        {
            "id": 1,
            "tool": "crop",
            "arguments": {"image": "<step-0>", "box": [[0, 0, 1, 1]]},
            "map": ["image", "box"],
        }
    )
    assert "must be as long as each other: 'image' has 3, 'box' has 1" in uneven["1"]["error"]
    _, missing = calls({"id": 1, "tool": "ocr", "arguments": {"image": "<step-5>"}, "map": ["image"]})
    assert missing["1"]["ok"] is False and "has not produced an output" in missing["1"]["error"]
    _, scalar = calls(
        {
            "id": 1,
            "tool": "crop",
            "arguments": {"image": "image-1", "box": "<step-0>.frames[0].time"},
            "map": ["box"],
        }
    )
    assert "is mapped over but" in scalar["1"]["error"] and "is not a list" in scalar["1"]["error"]
    none, empty = calls(
        {"id": 1, "tool": "ocr", "arguments": {"image": "<step-0>"}, "map": ["image"]},
        {"0": FRAMES["0"] | {"handles": {}}},
    )
    assert none == [] and empty["1"] == {"ok": True, "handles": {}, "output": {"items": []}, "error": None}


def test_the_results_of_a_map_step_are_collected_in_item_order() -> None:
    plan = [{"id": 0, "map": None}, {"id": 1, "map": ["image"]}]
    results: dict[str, Any] = {}

    def entry(i: int, ok: bool = True) -> dict[str, Any]:
        return {
            "ok": ok,
            "handles": {"boxes": [f"boxes-{i}"]} if ok else {},
            "output": {"n": i} if ok else None,
            "error": None if ok else f"bad {i}",
        }

    record_result(results, {"plan_step": 0}, entry(9), plan)
    for index in (2, 0, 1):
        record_result(results, {"plan_step": 1, "map_index": index}, entry(index), plan)
    assert results["0"] == entry(9)
    assert results["1"]["ok"] and results["1"]["output"] == {"items": [{"n": 0}, {"n": 1}, {"n": 2}]}
    assert results["1"]["handles"] == {"boxes": ["boxes-0", "boxes-1", "boxes-2"]}
    record_result(results, {"plan_step": 1, "map_index": 3}, entry(3, ok=False), plan)
    assert results["1"]["ok"] is False and results["1"]["error"] == "item 3 failed: bad 3"
    assert results["1"]["output"]["items"][3] is None and [c["index"] for c in results["1"]["calls"]] == [
        0,
        1,
        2,
        3,
    ]
