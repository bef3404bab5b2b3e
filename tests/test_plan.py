"""Plan mode: normalising, validating and repairing plans as LLMs really write them."""

from __future__ import annotations

import json

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


# -- issue 9 §10: plan-parsing defects found on real LLM-written plans ----------------------------------
@pytest.fixture(scope="module")
def wide() -> ExpertCatalogue:
    """Experts whose outputs hold every artifact kind (only their classes: nothing is deployed)."""
    catalogue = ExpertCatalogue()
    names = ("ocr", "crop", "draw_boxes", "overlay_mask", "noop", "detect", "segment", "clip", "mllm")
    for name in names:
        catalogue.add(DeployedExpert(name, load_expert_class(name), handle=None, app_name=name, timeout_s=5))  # type: ignore[arg-type]
    return catalogue


OCR = {"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}}


def test_a_fence_inside_a_string_argument_never_replaces_the_plan(catalogue):
    crop = "{'id': 7, 'tool': 'crop', 'arguments': {'image': 'image-1', 'box': [0, 0, 1, 1]}}"
    inner = f"the sign says ```[{crop}]```"
    steps = [
        OCR,
        {"id": 1, "tool": "draw_boxes", "arguments": {"image": "image-1", "boxes": [], "labels": [inner]}},
    ]
    for text in (
        json.dumps(steps),
        "Here is the plan:\n" + json.dumps(steps),
        "```json\n" + json.dumps(steps) + "\n```",
    ):
        plan = validate_plan(text, catalogue, handles={"image-1"})
        assert [s.tool for s in plan.steps] == ["ocr", "draw_boxes"], text
        assert plan.step(1).arguments["labels"] == [inner]


def test_a_fence_is_read_when_the_reply_as_a_whole_does_not_decode(catalogue):
    step = "{'id': 0, 'tool': 'ocr', 'arguments': {'image': 'image-1'}}"
    text = f"I will read it first.\n```python\n[{step}]\n```\nDone."
    plan = validate_plan(text, catalogue, handles={"image-1"})
    assert [s.tool for s in plan.steps] == ["ocr"] and "read the plan from a code fence" in plan.repairs


JSON_STEPS = [
    '{"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}}',
    '{"id": 1, "tool": "canny", "arguments": {"image": "image-1"}}',
    '{"id": 2, "tool": "crop", "arguments": {"image": "<step-1>", "box": [0, 0, 2, 2]}}',
]
PYTHON_STEPS = [step.replace('"', "'") for step in JSON_STEPS]


@pytest.mark.parametrize(
    "text",
    [
        ", ".join(JSON_STEPS),
        "Plan:\n" + ",\n".join(PYTHON_STEPS),
        "The steps: " + ", ".join(PYTHON_STEPS) + " -- ok?",
        "The steps:\n" + ",\n".join(JSON_STEPS) + "\nThat is all.",
    ],
)
def test_steps_without_enclosing_brackets_are_all_read(catalogue, text):
    plan = validate_plan(text, catalogue, handles={"image-1"})
    assert [s.tool for s in plan.steps] == ["ocr", "canny", "crop"]
    assert "read steps written without the enclosing [ ] as a list" in plan.repairs


@pytest.mark.parametrize(
    "spelling", ["<GENERATED-0>", "<step 0>", "<step_0>", "<node:0>", "<GENERATED>0", "<generated> 0"]
)
def test_near_miss_reference_spellings_are_reported(wide, spelling):
    steps = [OCR, {"id": 1, "tool": "noop", "arguments": {"payload": f"the sign: {spelling}"}}]
    with pytest.raises(PlanError) as caught:
        validate_plan(steps, wide, handles={"image-1"})
    assert any(spelling in p and "is not a step reference" in p for p in caught.value.problems), (
        caught.value.problems
    )


def test_valid_spellings_are_references(wide):
    for spelling in ("<step-0>", "<STEP - 0>", "<node-0>", "<GENERATED>-0", "<GENERATED> - 0"):
        plan = validate_plan(
            [OCR, {"id": 1, "tool": "noop", "arguments": {"payload": spelling}}], wide, handles={"image-1"}
        )
        assert plan.step(1).dependencies == [0]


def test_reordering_is_reported_only_when_the_order_was_wrong(catalogue):
    valid = [
        {"id": 0, "tool": "canny", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "crop", "arguments": {"image": "<step-0>", "box": [0, 0, 2, 2]}},
        {"id": 2, "tool": "ocr", "arguments": {"image": "image-1"}},
    ]
    plan = validate_plan(valid, catalogue, handles={"image-1"})
    assert [s.id for s in plan.steps] == [0, 1, 2]
    assert not any("reordered" in r for r in plan.repairs)
    backwards = [valid[1], valid[2], valid[0]]
    plan = validate_plan(backwards, catalogue, handles={"image-1"})
    assert [s.id for s in plan.steps] == [2, 0, 1]  # the given order kept wherever it works
    assert any("reordered" in r for r in plan.repairs)


def test_taskbench_repeated_names_keep_all_values_and_string_dependencies_keep_all_ids(catalogue):
    raw = {
        "nodes": [
            {"id": 0, "task": "canny", "arguments": [{"name": "image", "value": "image-1"}]},
            {"id": 1, "task": "ocr", "arguments": [{"name": "image", "value": "image-1"}]},
            {
                "id": 2,
                "task": "draw_boxes",
                "arguments": [
                    {"name": "image", "value": "<node-0>"},
                    {"name": "boxes", "value": [0, 0, 2, 2]},
                    {"name": "boxes", "value": [1, 1, 3, 3]},
                    {"name": "boxes", "value": [2, 2, 4, 4]},
                ],
                "dep": "0,1",
            },
        ]
    }
    plan = validate_plan(raw, catalogue, handles={"image-1"})
    assert plan.step(2).arguments["boxes"] == [[0, 0, 2, 2], [1, 1, 3, 3], [2, 2, 4, 4]]
    assert plan.step(2).dependencies == [0, 1]
    assert any("repeated names kept as lists: boxes" in r for r in plan.repairs)
    for dep, ids in (
        ("node-0, node-1", [0, 1]),
        ("[0; 1]", [0, 1]),
        (-1, []),
        ("-1", []),
        ([0, "<step-1>"], [0, 1]),
    ):
        step = {"id": 2, "tool": "ocr", "arguments": {"image": "image-1"}, "dep": dep}
        assert (
            validate_plan([raw["nodes"][0] | {"tool": "canny"}, OCR | {"id": 1}, step], catalogue)
            .step(2)
            .dependencies
            == ids
        )


# -- issue 8 §1: nothing a plan holds makes the parser or validator raise anything but PlanError ------
NASTY = [
    "[" * 100_000,
    "{" * 100_000,
    "{[1]: 2}",
    "[{'id': 0, 'tool': 'ocr', 'arguments': {'payload': 1j}}]",
    "[{'id': 0, 'tool': 'ocr', 'arguments': {'payload': {1, 2}}}]",
    "[{'id': 0, 'tool': 'ocr', 'arguments': {'payload': b'raw'}}]",
    "[{'id': 0, 'tool': 'ocr', 'arguments': {'payload': ...}}]",
    "[{'id': 0, 'tool': 'ocr', 'arguments': {(1, 2): 'tuple key'}}]",
    "[{'id': 0, 'tool': 'ocr', 'arguments': {1: 2}}]",
    '[{"id": 0, "tool": "ocr", "arguments": {"image": "<step-' + "9" * 5000 + '>"}}]',
    '[{"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}, "dep": "' + "9" * 5000 + '"}]',
    '[{"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}, "dep": [' + "9" * 5000 + "]}]",
    '[{"id": ' + "9" * 5000 + ', "tool": "ocr"}]',
    '[{"id": 1.5, "tool": "ocr"}]',
    '[{"id": true, "tool": "ocr"}]',
    '[{"id": 0, "tool": "ocr", "arguments": {"image": "image-1", "box": [0, 0, 18446744073709551616, 5]}}]',
    '[{"id": 0, "tool": "ocr", "arguments": {"a": ' + "[" * 300 + "]" * 300 + "}}]",
    '[{"id": 0, "tool": "ocr", "arguments": {"\\udc00": 1}}]',
    '[{"id": 0, "tool": "ocr", "arguments": {"a": NaN}}]',
    "[{'id': 0, 'tool': 'ocr', 'arguments': 5}]",
    "[{'id': 0, 'tool': ['ocr']}]",
    "[{'id': 0, 'tool': 'ocr', 'arguments': [{'name': 1, 'value': 2}]}]",
    "[{'id': 0, 'tool': 'ocr', 'dep': {'a': 1}}]",
    "[{'id': 0, 'tool': 'ocr', 'arguments': {'image': 'image-1'}}, 'not a step']",
    '"just a string"',
    "42",
    "null",
    "```\n```",
]


@pytest.mark.parametrize("text", NASTY, ids=lambda t: t[:30])
def test_nasty_plans_raise_only_plan_errors(wide, text):
    """Issue 8 §1 lists these: each used to raise TypeError, ValueError, RecursionError or similar."""
    with pytest.raises(PlanError) as caught:
        validate_plan(text, wide, handles={"image-1"})
    assert caught.value.problems and all(len(p) < 600 for p in caught.value.problems)


def test_doubled_braces_read_the_step_inside_and_say_so(wide):
    plan = validate_plan(
        "[{{'id': 0, 'tool': 'ocr', 'arguments': {'image': 'image-1'}}}]", wide, handles={"image-1"}
    )
    assert [s.tool for s in plan.steps] == ["ocr"] and "ignored the text around the plan" in plan.repairs


@pytest.mark.parametrize(
    "plan",
    [
        [{"id": 0, "tool": "noop", "arguments": {"payload": 1j}}],
        [{"id": 0, "tool": "noop", "arguments": {1: 2}}],
        [{"id": 0, "tool": "noop", "arguments": {"payload": object()}}],
        [{"id": (0,), "tool": "noop"}],
        {"plan": {1, 2}},
        42,
        None,
    ],
    ids=str,
)
def test_python_plans_that_are_not_json_raise_plan_errors(wide, plan):
    with pytest.raises(PlanError):
        validate_plan(plan, wide)
