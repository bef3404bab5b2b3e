"""End-to-end runs through the SDK, the LangGraph loop and real Serve deployments (scripted controller)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import ray
from PIL import Image

from llm.scripted import ScriptedChatModel
from orchestrator.cli.demo import DEMO_LINES, DEMO_TASK, demo_controller, last_observations, make_demo_image
from tests.support.experts import overlap

pytestmark = pytest.mark.ray


def act(tool: str, arguments: dict | str, thought: str = "next step") -> str:
    body = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return f"Thought: {thought}\nAction: {tool}\nAction Input: {body}"


def answer(text: str = "done") -> str:
    return f"Thought: finished\nFinal Answer: {text}"


def image(width: int = 64, height: int = 48) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (height, width, 3), dtype=np.uint8)


def test_demo_task_reads_outlines_and_crops(orch):
    result = orch.run(DEMO_TASK, images=[make_demo_image()], chat_model=demo_controller())
    assert result.ok, result.failure
    assert result.replay and "replay" in result.controller
    tools = [s.tool for s in result.steps]
    assert tools == ["ocr", "draw_boxes", "crop", None]
    for line in DEMO_LINES:
        assert line in result.answer
    # The crop's arguments were built from the OCR output, and its output is exactly that region.
    ocr_items = json.loads(result.steps[0].observation)["output"]["lines"]["items"]
    x0, y0, x1, y1 = result.steps[2].arguments["box"]
    assert x0 <= ocr_items[0]["box"][0] and x1 >= ocr_items[0]["box"][2]
    crop = result.artifacts["image-3"]
    assert crop.kind == "image" and crop.shape == [x1 - x0, y1 - y0]
    source = result.artifacts["image-1"].load()
    assert np.array_equal(crop.load(), source[y0:y1, x0:x1])
    # Lineage: outputs name their producer step and parent.
    outlined = result.artifacts["image-2"]
    assert (
        outlined.parents == ["image-1"] and outlined.producer == "draw_boxes" and outlined.producer_step == 2
    )
    assert result.artifacts["boxes-1"].kind == "boxes" and len(result.artifacts["boxes-1"].load()) == 3
    assert all(s.replica for s in result.steps if s.tool)


def replica_spans(result) -> list[dict[str, float]]:
    """When each call ran, on the replica's clock (the span experts report it in their output)."""
    return [json.loads(s.observation)["output"] for s in result.steps if s.tool]


def test_several_actions_in_one_turn_run_concurrently(orch):
    both = act("span", {"seconds": 0.6}) + '\nAction: span\nAction Input: {"seconds": 0.6}'
    result = orch.run("wait twice", chat_model=ScriptedChatModel([both, answer()]))
    assert result.ok, result.failure
    first, second = result.steps[0], result.steps[1]
    assert first.turn == second.turn == 1 and not first.error and not second.error
    # Both calls ran at the same time on the (one) replica: the intervals it measured overlap.
    assert overlap(replica_spans(result))


def test_overlap_is_measured_where_the_calls_run(orch):
    """The negative case: a replica that runs calls one at a time fails the overlap check above."""
    both = act("serial_span", {"seconds": 0.3}) + '\nAction: serial_span\nAction Input: {"seconds": 0.3}'
    result = orch.run("wait twice, one after the other", chat_model=ScriptedChatModel([both, answer()]))
    assert result.ok, result.failure
    assert not overlap(replica_spans(result))
    # The driver had both calls in flight all the same, so its dispatch and collection times cannot tell.
    driver = sorted((s.started_at, s.started_at + s.seconds) for s in result.steps[:2])
    assert driver[1][0] < driver[0][1]


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("nonexistent", {"image": "image-1"}, "there is no expert 'nonexistent'"),
        ("crop", {"image": "image-1"}, "box"),
        ("crop", {"image": "image-9", "box": [0, 0, 4, 4]}, "no artifact 'image-9'"),
        ("crop", {"image": "/etc/passwd", "box": [0, 0, 4, 4]}, "looks like a file path"),
        ("crop", {"image": "mask-1", "box": [0, 0, 4, 4]}, "mask handle"),
        ("crop", {"image": "image-1", "box": [0, 0, 900, 10]}, "extends past the 64x48 image"),
        ("broken", {"image": "image-1"}, "simulated model failure"),
        ("sleepy", {"seconds": 5}, "timed out after 1 s"),
    ],
)
def test_call_problems_become_observations(orch, tool, arguments, expected):
    script = ScriptedChatModel([act(tool, arguments), answer("recovered")])
    result = orch.run("try something", images=[image()], chat_model=script)
    assert result.ok and result.answer == "recovered"
    step = result.steps[0]
    assert step.error and expected in step.error
    assert expected in json.loads(step.observation)["error"]
    # The controller saw the error as an observation before its next turn.
    assert expected in script.seen[1][-1]["content"]


def test_model_named_path_is_never_read(orch, tmp_path):
    secret = tmp_path / "secret.png"
    Image.fromarray(image()).save(secret)
    script = ScriptedChatModel([act("invert", {"image": str(secret)}), answer()])
    result = orch.run("invert it", chat_model=script)
    assert "looks like a file path" in result.steps[0].error
    assert not result.new_artifacts()


def test_unparseable_replies_get_bounded_corrections_then_fail(orch):
    script = ScriptedChatModel(["I think I should look.", "still no format", "nope", "never"])
    result = orch.run("look", images=[image()], chat_model=script)
    assert result.status == "failed"
    assert "could not be used" in result.failure
    assert script.calls == orch.config.max_parse_retries + 1
    assert "Final Answer" in script.seen[1][-1]["content"]  # the correction shows the format


def test_correction_then_recovery(orch):
    script = ScriptedChatModel(
        ["Let me think...", act("invert", {"image": "image-1"}), answer("inverted: image-2")]
    )
    result = orch.run("invert", images=[image()], chat_model=script)
    assert result.ok and result.artifacts["image-2"].parents == ["image-1"]


def test_max_steps_ends_in_clear_failure(orch):
    loop = [act("noop", {"payload": str(i)}) for i in range(10)]
    result = orch.run("loop forever", chat_model=ScriptedChatModel(loop), max_steps=3)
    assert result.status == "failed" and "max_steps" in result.failure
    assert len([s for s in result.steps if s.tool]) == 3


def test_controller_failure_ends_run(orch):
    result = orch.run("anything", chat_model=ScriptedChatModel([act("noop", {})]))
    assert result.status == "failed" and "no more responses" in result.failure


def test_session_continues_with_earlier_artifacts(orch):
    first = orch.run(
        "invert",
        images=[image()],
        session="e2e-session",
        chat_model=ScriptedChatModel([act("invert", {"image": "image-1"}), answer("image-2")]),
    )
    assert first.ok
    script = ScriptedChatModel(
        [
            act("canny", {"image": "image-2", "low_threshold": 50, "high_threshold": 150}),
            answer("edges in image-4"),
        ]
    )
    second = orch.run(
        "edges of the inverted one", images=[image(32, 32)], session="e2e-session", chat_model=script
    )
    assert second.ok
    assert set(second.artifacts) >= {"image-1", "image-2", "image-3", "image-4"}
    assert second.artifacts["image-3"].producer == "input"
    assert second.artifacts["image-4"].parents == ["image-2"]
    assert [s.tool for s in second.steps] == ["canny", None]  # only this run's steps
    # the task message lists the new artifacts and a count; the earlier ones are in the earlier run's turns
    task_message = script.seen[0][-1]["content"]
    assert "3 in all" in task_message and "image-3: image 32x32, input image" in task_message
    assert "image-2" not in task_message
    assert any("image-2" in m["content"] for m in script.seen[0][:-1])


def test_mask_artifact_feeds_the_next_expert(orch):
    img = np.zeros((40, 60, 3), dtype=np.uint8)
    img[10:20, 30:50] = 255
    script = ScriptedChatModel(
        [
            act("threshold", {"image": "image-1", "level": 128}),
            act("overlay_mask", {"image": "image-1", "mask": "mask-1", "color": "#00ff00", "alpha": 1.0}),
            answer("image-2"),
        ]
    )
    result = orch.run("paint the bright part green", images=[img], chat_model=script)
    assert result.ok, result.failure
    mask = result.artifacts["mask-1"]
    assert mask.kind == "mask" and mask.shape == [60, 40] and mask.parents == ["image-1"]
    assert json.loads(result.steps[0].observation)["output"]["mask"] == {
        "handle": "mask-1",
        "size": [60, 40],
        "area": 200,
        "bbox": [30, 10, 50, 20],
        "score": 1.0,
    }
    painted = result.artifacts["image-2"]
    assert painted.parents == ["image-1", "mask-1"]
    pixels = painted.load()
    assert (pixels[10:20, 30:50] == [0, 255, 0]).all() and (pixels[0:10] == 0).all()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("/definitely/not/here.png", "does not exist"),
        (b"not an image at all", "not an image"),
        (np.full((4, 4), np.nan, dtype=np.float32), "NaN or infinite"),
        (object(), "cannot use a object"),
    ],
)
def test_bad_inputs_raise_before_any_work(orch, bad, message):
    from orchestrator import InputError

    before = sorted(p.name for p in orch.store.root.rglob("*")) if orch.store.root.exists() else []
    script = ScriptedChatModel([answer()])
    with pytest.raises(InputError, match=message):
        orch.run("look", images=[image(), bad], session="never-created", chat_model=script)
    after = sorted(p.name for p in orch.store.root.rglob("*")) if orch.store.root.exists() else []
    assert before == after and script.calls == 0
    assert not orch.graph.get_state({"configurable": {"thread_id": "never-created"}}).values


def test_observations_are_json_the_controller_can_read(orch):
    captured = {}

    def keep(messages):
        captured["obs"] = last_observations(messages)
        return answer()

    orch.run(
        "resize",
        images=[image()],
        chat_model=ScriptedChatModel([act("resize", {"image": "image-1", "scale": 0.5}), keep]),
    )
    (body,) = captured["obs"]
    assert body["tool"] == "resize" and body["output"]["image"]["size"] == [32, 24]


def test_expert_errors_keep_their_kind_and_traceback_in_the_trace(orch):
    script = ScriptedChatModel(
        [
            act("broken", {"image": "image-1"})
            + '\nAction: crop\nAction Input: {"image": "image-1", "box": [0, 0, 900, 10]}'
            + '\nAction: crop\nAction Input: {"image": "image-9", "box": [0, 0, 4, 4]}',
            answer("recovered"),
        ]
    )
    result = orch.run("try", images=[image()], chat_model=script)
    crashed, refused, wrong = result.steps[:3]
    assert crashed.error_type == "expert" and "simulated model failure" in crashed.traceback
    assert "Traceback" in crashed.traceback and "Traceback" not in crashed.observation
    assert "Traceback" not in script.seen[1][-1]["content"]  # the controller saw the short message only
    assert refused.error_type == "input" and refused.traceback is None
    assert wrong.error_type == "arguments"


def test_parser_repairs_are_kept_with_their_step(orch):
    events = list(
        orch.stream(
            "invert",
            images=[image()],
            chat_model=ScriptedChatModel(
                [
                    'thought: invert it\naction: invert\naction input: {"image": "image-1"}',
                    "**Thought:** done\n**Final Answer:** image-2",
                ]
            ),
        )
    )
    result = events[-1].result
    assert result.ok and result.answer == "image-2"
    called, answered = result.steps
    assert "normalised label case" in called.repairs
    assert "removed markdown around labels" in answered.repairs
    thought = next(e for e in events if e.type == "thought")
    assert thought.repairs == called.repairs


@pytest.fixture
def pixel_caches(monkeypatch):
    """The PixelCache of every run started while the fixture is active."""
    from orchestrator.agent.pixels import PixelCache

    made: list[PixelCache] = []

    class Recording(PixelCache):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr("orchestrator.agent.runner.PixelCache", Recording)
    return made


def test_an_output_image_goes_to_the_next_step_without_the_driver(orch, pixel_caches):
    source = image()
    script = ScriptedChatModel(
        [act("invert", {"image": "image-1"}), act("invert", {"image": "image-2"}), answer("image-3")]
    )
    result = orch.run("invert twice", images=[source], chat_model=script)
    assert result.ok, result.failure
    (pixels,) = pixel_caches
    # Only the input was put from the driver; image-2 went from one replica to the next by reference.
    assert pixels.puts == 1 and pixels.loads == 0
    # ... and was still saved (off the hot path) before the run finished.
    assert np.array_equal(result.artifacts["image-2"].load(), 255 - source)
    assert np.array_equal(result.artifacts["image-3"].load(), source)


def test_an_output_that_cannot_be_saved_fails_the_run_and_is_named(orch, monkeypatch):
    def full_disk(self, kind, artifact_id, ref):
        raise OSError("No space left on device")

    monkeypatch.setattr("orchestrator.agent.pixels.ArtifactWriter._write", full_disk)
    script = ScriptedChatModel([act("invert", {"image": "image-1"}), answer("inverted: image-2")])
    result = orch.run("invert", images=[image()], chat_model=script)
    assert result.status == "failed" and result.answer == "inverted: image-2"
    assert "image-2" in result.failure and "No space left on device" in result.failure


def test_pixels_lost_with_their_replica_are_read_back_from_the_store(orch, pixel_caches):
    """The replica that made image-2 stops before the next step: that step reads the saved copy."""
    from tests.support.experts import Invert

    def stop_the_maker(messages):
        pixel_caches[0].writer.flush()  # image-2 is saved by now
        made = pixel_caches[0].ref(orch.runner.table("lost-pixels")["image-2"])  # the replica's reference
        orch.remove_expert("invert_once")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until Ray has noticed that the pixels went with their owner
            try:
                ray.get(made, timeout=5)
            except ray.exceptions.ObjectLostError:
                break
            time.sleep(0.1)
        return act("canny", {"image": "image-2"})

    orch.add_expert(Invert, name="invert_once")
    try:
        script = ScriptedChatModel([act("invert_once", {"image": "image-1"}), stop_the_maker, answer()])
        result = orch.run("invert, then edges", images=[image()], session="lost-pixels", chat_model=script)
    finally:
        if "invert_once" in orch.experts:
            orch.remove_expert("invert_once")
    assert result.ok and [s.error for s in result.steps] == [None, None, None]
    assert result.artifacts["image-3"].parents == ["image-2"]
    assert pixel_caches[0].loads == 1 and pixel_caches[0].puts == 2  # image-2 was put again, once
