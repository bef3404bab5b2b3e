"""Plan mode end to end: waves, re-planning after a failure, and run_plan without an LLM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from llm.scripted import ScriptedChatModel
from orchestrator import InputError
from tests.support.experts import overlap

pytestmark = pytest.mark.ray


def picture() -> np.ndarray:
    image = np.zeros((40, 60, 3), np.uint8)
    image[10:20, 30:50] = 255
    return image


def plan_turn(steps: list[dict]) -> str:
    return "Thought: I can plan all of it\nPlan:\n" + json.dumps(steps)


def test_controller_plan_runs_in_waves_with_references(orch):
    steps = [
        {"id": 0, "tool": "threshold", "arguments": {"image": "image-1", "level": 128}},
        {"id": 1, "tool": "canny", "arguments": {"image": "image-1"}},
        {
            "id": 2,
            "tool": "overlay_mask",
            "arguments": {"image": "<step-1>", "mask": "<step-0>", "alpha": 1.0},
        },
        {"id": 3, "tool": "crop", "arguments": {"image": "<step-2>", "box": "<step-0>.mask.bbox"}},
    ]
    script = ScriptedChatModel([plan_turn(steps), "Thought: all done\nFinal Answer: image-3"])
    result = orch.run(
        "find the bright part, edge it, paint it, crop it", images=[picture()], chat_model=script
    )
    assert result.ok, result.failure
    calls = [s for s in result.steps if s.tool]
    assert [s.tool for s in calls] == ["threshold", "canny", "overlay_mask", "crop"]
    assert calls[3].arguments["box"] == [30, 10, 50, 20]  # <step-0>.mask.bbox resolved from the output
    assert result.artifacts["image-4"].parents == ["image-3"] and result.artifacts["image-4"].shape == [
        20,
        10,
    ]
    assert result.artifacts["image-3"].parents == ["image-2", "mask-1"]
    assert script.calls == 2  # the whole plan cost one controller turn
    assert "plan accepted: 4 steps in 3 waves" in result.steps[0].observation
    assert "Observation (plan step 3)" in script.seen[1][-1]["content"]


def test_first_wave_runs_concurrently(orch):
    steps = [{"id": i, "tool": "span", "arguments": {"seconds": 0.5}} for i in range(2)]
    result = orch.run("wait", chat_model=ScriptedChatModel([plan_turn(steps), "Final Answer: ok"]))
    assert result.ok, result.failure
    calls = [s for s in result.steps if s.tool]
    assert len(calls) == 2 and not any(s.error for s in calls)
    # The replica ran both steps at once: the intervals it measured overlap.
    assert overlap([json.loads(s.observation)["output"] for s in calls])


def test_failed_step_replans_only_what_depends_on_it(orch):
    steps = [
        {"id": 0, "tool": "broken", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "crop", "arguments": {"image": "image-1", "box": [0, 0, 10, 10]}},
        {"id": 2, "tool": "canny", "arguments": {"image": "<step-0>"}},
    ]
    replacement = [{"id": 0, "tool": "canny", "arguments": {"image": "image-1"}}]
    script = ScriptedChatModel([plan_turn(steps), plan_turn(replacement), "Final Answer: edges in image-3"])
    result = orch.run("edges", images=[picture()], chat_model=script)
    assert result.ok, result.failure
    request = script.seen[1][-1]["content"]
    assert "step 0 failed" in request and "depend on it: 2" in request and "Completed steps (1)" in request
    assert [s.tool for s in result.steps if s.tool] == ["broken", "crop", "canny"]  # crop ran once, kept
    assert result.artifacts["image-2"].producer == "crop" and result.artifacts["image-3"].producer == "canny"


def test_invalid_plan_gets_one_corrective_observation(orch):
    bad = [
        {"id": 0, "tool": "teleport", "arguments": {}},
        {"id": 1, "tool": "crop", "arguments": {"image": "image-1"}},
    ]
    good = [{"id": 0, "tool": "canny", "arguments": {"image": "image-1"}}]
    script = ScriptedChatModel([plan_turn(bad), plan_turn(good), "Final Answer: ok"])
    result = orch.run("edges", images=[picture()], chat_model=script)
    assert result.ok
    correction = script.seen[1][-1]["content"]
    assert "no expert 'teleport'" in correction and "crop" in correction and "box" in correction


def test_run_plan_without_an_llm(orch):
    plan = [
        {"id": 0, "tool": "threshold", "arguments": {"image": "image-1", "level": 128}},
        {
            "id": 1,
            "tool": "overlay_mask",
            "arguments": {"image": "image-1", "mask": "<step-0>", "color": "#00ff00"},
        },
        {
            "id": 2,
            "tool": "crop",
            "arguments": {"image": "<step-1>", "box": "<step-0>.mask.bbox"},
            "dep": [1],
        },
    ]
    result = orch.run_plan(plan, images=[picture()])
    assert result.ok and result.controller.startswith("none") and not result.replay
    assert "step 2 crop -> image-3" in result.answer
    assert result.artifacts["image-3"].parents == ["image-2"] and result.artifacts["image-3"].shape == [
        20,
        10,
    ]
    assert result.plan_repairs == [
        "step 1 (overlay_mask): added step 0 to its dependencies (its arguments use <step-0>)",
        "step 2 (crop): added step 0 to its dependencies (its arguments use <step-0>)",
    ]


def test_run_plan_failure_keeps_completed_work(orch):
    plan = [
        {"id": 0, "tool": "canny", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "broken", "arguments": {"image": "<step-0>"}},
        {"id": 2, "tool": "crop", "arguments": {"image": "<step-1>", "box": [0, 0, 2, 2]}},
    ]
    result = orch.run_plan(plan, images=[picture()])
    assert result.status == "failed"
    assert "step 1 failed" in result.failure and "not run: steps 2" in result.failure
    assert result.artifacts["image-2"].producer == "canny"


def test_run_plan_rejects_bad_plans_before_any_work(orch):
    with pytest.raises(InputError, match="no artifact 'image-2'"):
        orch.run_plan(
            [{"id": 0, "tool": "canny", "arguments": {"image": "image-2"}}],
            images=[picture()],
            session="plan-never",
        )
    assert not orch.graph.get_state({"configurable": {"thread_id": "plan-never"}}).values


def test_run_plan_says_all_of_them_and_picks_the_kth_item(orch):
    """Issue 9 §7, §10: a whole boxes artifact where a list is wanted, the k-th item, a step's text."""
    from orchestrator.cli.demo import DEMO_LINES, make_demo_image

    plan = [
        {"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "draw_boxes", "arguments": {"image": "image-1", "boxes": "<step-0>"}},
        {"id": 2, "tool": "crop", "arguments": {"image": "image-1", "box": "<step-0>.lines[1].box"}},
        {"id": 3, "tool": "noop", "arguments": {"payload": "<GENERATED>-0"}},
        {"id": 4, "tool": "noop", "arguments": {"payload": "first: <step-0>.lines[0].text"}},
    ]
    result = orch.run_plan(plan, images=[make_demo_image()])
    assert result.ok, result.failure
    calls = {s.tool + str(i): s for i, s in enumerate(result.steps) if s.tool}
    lines = json.loads(calls["ocr0"].observation)["output"]["lines"]["items"]
    assert [line["text"] for line in lines] == list(DEMO_LINES)
    assert calls["draw_boxes1"].arguments["boxes"] == [line["box"] for line in lines]  # every box
    assert calls["crop2"].arguments["box"] == lines[1]["box"]
    assert calls["noop3"].arguments["payload"] == "\n".join(DEMO_LINES)  # the step's text, not a handle
    assert calls["noop4"].arguments["payload"] == f"first: {DEMO_LINES[0]}"


def test_run_plan_refuses_a_kind_mismatch_before_any_work(orch):
    """Issue 9 §9: feeding boxes into an image field fails validation, naming both kinds."""
    plan = [
        {"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "crop", "arguments": {"image": "<step-0>.lines", "box": [0, 0, 2, 2]}},
        {"id": 2, "tool": "noop", "arguments": {"payload": "<GENERATED-0>"}},
    ]
    with pytest.raises(InputError) as caught:
        orch.run_plan(plan, images=[picture()], session="plan-kinds-never")
    message = str(caught.value)
    assert "'image' wants an image, but <step-0>.lines is boxes" in message
    assert "'<GENERATED-0>' in 'payload' is not a step reference" in message
    assert not orch.graph.get_state({"configurable": {"thread_id": "plan-kinds-never"}}).values


def test_a_plan_that_breaks_validation_by_kind_gets_a_correction(orch):
    bad = [
        {"id": 0, "tool": "threshold", "arguments": {"image": "image-1", "level": 128}},
        {"id": 1, "tool": "crop", "arguments": {"image": "<step-0>", "box": [0, 0, 2, 2]}},
    ]
    good = [{"id": 0, "tool": "canny", "arguments": {"image": "image-1"}}]
    script = ScriptedChatModel([plan_turn(bad), plan_turn(good), "Final Answer: ok"])
    result = orch.run("edges", images=[picture()], chat_model=script)
    assert result.ok
    correction = script.seen[1][-1]["content"]
    assert "'image' wants an image, but <step-0> (threshold) gives a mask" in correction
