"""Plan mode: normalising, validating and repairing plans as LLMs really write them."""

from __future__ import annotations

import pytest

from experts.registry import load_expert_class
from orchestrator.agent.plan import PlanError, PlanStep, validate_plan, waves
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue


@pytest.fixture(scope="module")
def catalogue() -> ExpertCatalogue:
    catalogue = ExpertCatalogue()
    for name in ("ocr", "crop", "draw_boxes", "canny", "overlay_mask"):
        catalogue.add(DeployedExpert(name, load_expert_class(name), handle=None, app_name=name, timeout_s=5))  # type: ignore[arg-type]
    return catalogue


def test_canonical_plan_in_waves(catalogue):
    plan = validate_plan(
        [
            {"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}, "dependencies": []},
            {"id": 1, "tool": "canny", "arguments": {"image": "image-1"}, "dependencies": []},
            {
                "id": 2,
                "tool": "crop",
                "arguments": {"image": "<step-1>", "box": [0, 0, 4, 4]},
                "dependencies": [1],
            },
        ],
        catalogue,
        handles={"image-1"},
    )
    assert [[s.id for s in wave] for wave in waves(plan)] == [[0, 1], [2]]
    assert plan.repairs == []
    assert [[s.id for s in wave] for wave in waves(plan, finished={0, 1})] == [[2]]


def test_hugginggpt_spelling_python_quotes_and_missing_dependency(catalogue):
    text = """Here is my plan:
```python
[{'task': 'canny', 'id': 0, 'dep': [-1], 'args': {'image': 'image-1'}},
 {'task': 'crop', 'id': 1, 'dep': -1, 'args': {'image': '<GENERATED>-0', 'box': [0, 0, 8, 8]}},]
```"""
    plan = validate_plan(text, catalogue, handles={"image-1"})
    assert plan.step(1).dependencies == [0]
    assert any("added step 0" in r for r in plan.repairs)
    assert any("Python-style" in r for r in plan.repairs)


def test_taskbench_nodes_with_name_value_arguments_and_forward_order(catalogue):
    raw = {
        "nodes": [
            {
                "id": "node-1",
                "task": "crop",
                "arguments": [{"name": "image", "value": "<node-2>"}, {"name": "box", "value": [0, 0, 2, 2]}],
            },
            {"id": "node-2", "task": "canny", "arguments": [{"name": "image", "value": "image-1"}]},
        ]
    }
    plan = validate_plan(raw, catalogue)
    assert [s.id for s in plan.steps] == [2, 1]
    assert any("reordered" in r for r in plan.repairs)


def test_single_step_and_string_dependencies(catalogue):
    plan = validate_plan({"tool": "ocr", "arguments": {"image": "image-1"}, "dependencies": "-1"}, catalogue)
    assert len(plan.steps) == 1 and plan.steps[0].dependencies == []
    assert any("single step" in r for r in plan.repairs)


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ([{"id": 0, "tool": "teleport", "arguments": {}}], "no expert 'teleport'"),
        ([{"id": 0, "tool": "crop", "arguments": {"image": "image-1"}}], "box"),
        (
            [{"id": 0, "tool": "crop", "arguments": {"image": "<step-3>", "box": [0, 0, 1, 1]}}],
            "not in the plan",
        ),
        (
            [{"id": 0, "tool": "crop", "arguments": {"image": "<step-0>", "box": [0, 0, 1, 1]}}],
            "its own output",
        ),
        (
            [
                {"id": 0, "tool": "canny", "arguments": {"image": "<step-1>"}},
                {"id": 1, "tool": "canny", "arguments": {"image": "<step-0>"}},
            ],
            "cycle",
        ),
        ([{"id": 0, "tool": "ocr", "arguments": {"image": "image-7"}}], "no artifact 'image-7'"),
        ([{"id": 0, "tool": "ocr", "arguments": {"image": "/tmp/x.png"}}], "looks like a file path"),
        ([{"id": 0, "tool": "ocr"}, {"id": 0, "tool": "ocr"}], "used twice"),
        ("no plan here", "no JSON list"),
        ("[{'tool': 'ocr', ", "not valid JSON"),
        ([], "no steps"),
        ([{"arguments": {}}], "names no tool"),
    ],
)
def test_unrepairable_defects_are_listed(catalogue, plan, problem):
    with pytest.raises(PlanError) as caught:
        validate_plan(plan, catalogue, handles={"image-1"})
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_all_problems_are_reported_together(catalogue):
    with pytest.raises(PlanError) as caught:
        validate_plan([{"id": 0, "tool": "teleport"}, {"id": 1, "tool": "crop", "arguments": {}}], catalogue)
    assert len(caught.value.problems) == 2


def test_mask_reference_gets_a_mask_placeholder(catalogue):
    plan = validate_plan(
        [
            {"id": 0, "tool": "canny", "arguments": {"image": "image-1"}},
            {"id": 1, "tool": "overlay_mask", "arguments": {"image": "<step-0>", "mask": "mask-1"}},
        ],
        catalogue,
        handles={"image-1", "mask-1"},
    )
    assert plan.step(1).dependencies == [0]


def test_handles_and_references_are_found_in_nested_values_not_in_text(catalogue):
    labels = ['the sign says "image-9', 'a "quoted" word']
    quoted = {"image": "image-1", "boxes": [[0, 0, 4, 4]] * 2, "labels": labels}
    plan = validate_plan(
        [{"id": 0, "tool": "draw_boxes", "arguments": quoted}], catalogue, handles={"image-1"}
    )
    assert plan.step(0).arguments["labels"] == labels  # those texts name no artifact
    nested = {"image": "image-1", "boxes": [[0, 0, 4, 4]], "labels": ["image-7"]}
    with pytest.raises(PlanError) as caught:
        validate_plan([{"id": 0, "tool": "draw_boxes", "arguments": nested}], catalogue, handles={"image-1"})
    assert caught.value.problems == ["step 0 (draw_boxes): there is no artifact 'image-7'; known: image-1"]
    step = PlanStep(
        3, "crop", {"a": {"b": [{"c": "<step-2>.lines"}]}, "<step-5>": "x", "d": 'say "<node-1>"'}
    )
    assert step.references() == {1, 2}  # a key is not a value; a reference inside text still counts
