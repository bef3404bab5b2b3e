"""The visual report: one self-contained HTML file per run, drawn by the renderer the web page shares.

Unit tests check the HTML builder without a browser; the browser tests open reports of real runs
(through Ray Serve) in headless Chromium and check what a person would see.
"""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from orchestrator.cli.demo import make_demo_image
from orchestrator.result import ArtifactInfo, Result, Step
from orchestrator.service.assets import SCRIPTS
from orchestrator.service.report import render_report, report_data
from orchestrator.storage.artifacts import ArtifactStore
from tests.support.browser import open_report, screenshot, severe_logs

SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a name in the renderer's code, never fetched
OBSERVATION = '{"tool": "ocr", "output": {"lines": {"handle": "boxes-1", "count": 2}}}'
OCR_LINES = [
    {"text": "FRESH BREAD DAILY", "box": [60, 66, 520, 104], "score": 0.99},
    {"text": "OPEN 7AM - 6PM", "box": [60, 176, 430, 214], "score": 0.97},
]


# -- a Result made by hand (no Ray): every artifact kind, a failed step, a plan -------------------------
def _step(index: int, tool: str | None, **fields: Any) -> Step:
    base = {
        "index": index,
        "turn": 1,
        "thought": "",
        "tool": tool,
        "arguments": {},
        "observation": "",
        "started_at": 0.0,
        "seconds": 0.05,
        "replica": f"{tool}#1" if tool else None,
        "error": None,
        "new_handles": [],
    }
    return Step.model_validate(base | fields)


def handmade_result(root: Path, task: str = "read the sign") -> Result:
    store = ArtifactStore(root)
    picture = np.asarray(make_demo_image())
    artifacts: dict[str, ArtifactInfo] = {}

    def add(handle: str, kind: str, value: Any, producer: str = "input", step: int = 0, parents=()) -> None:
        artifact_id, shape, uri = store.put(kind, value)
        record = {
            "handle": handle,
            "id": artifact_id,
            "kind": kind,
            "shape": shape,
            "producer_step": step,
            "producer": producer,
            "parents": list(parents),
            "uri": uri,
        }
        artifacts[handle] = ArtifactInfo.from_record(record, store)  # type: ignore[arg-type]

    add("image-1", "image", picture)
    add("boxes-1", "boxes", OCR_LINES, "ocr", 1, ["image-1"])
    add("mask-1", "mask", picture.mean(axis=2) < 100, "threshold", 2, ["image-1"])
    add("text-1", "text", "a shop sign with <b>three</b> lines", "mllm", 3, ["image-1"])
    steps = [
        _step(1, "ocr", arguments={"image": "image-1"}, observation=OBSERVATION, new_handles=["boxes-1"]),
        _step(2, "threshold", arguments={"image": "image-1", "level": 100}, new_handles=["mask-1"]),
        _step(3, "mllm", arguments={"image": "image-1", "mode": "caption"}, new_handles=["text-1"]),
        _step(4, "broken", arguments={"image": "image-1"}, error="simulated model failure on image-1"),
        _step(5, None, thought="done", observation="The sign reads FRESH BREAD DAILY."),
    ]
    return Result(
        session="s-1",
        run_id="r-1",
        task=task,
        status="answered",
        answer="The sign reads FRESH BREAD DAILY.",
        failure=None,
        artifacts=artifacts,
        steps=steps,
        controller="scripted (replay)",
        replay=True,
        seconds=1.5,
    )


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def embedded_json(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="mmr-result">(.*?)</script>', page, re.S)
    assert match, "the Result JSON is not in the page"
    return json.loads(match.group(1))


def test_report_is_one_self_contained_file(tmp_path):
    result = handmade_result(tmp_path / "store")
    page = render_report(report_data(result))
    parser = _Links()
    parser.feed(page)
    assert not [t for t, _ in parser.tags if t in ("link", "iframe", "object", "embed")]
    for tag, attrs in parser.tags:
        for name in ("src", "href", "action", "data"):
            value = attrs.get(name)
            leaves = f"<{tag} {name}={value!r}> points outside the file"
            assert value is None or value.startswith(("data:", "#")), leaves
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= {SVG_NAMESPACE}
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    scripts = [t for t, _ in parser.tags if t == "script"]
    assert len(scripts) == len(SCRIPTS) + 2  # the renderer's files, the Result JSON, and the call
    assert str(tmp_path) not in page  # local paths stay out of a report that may be shared


def test_report_inlines_every_artifact(tmp_path):
    result = handmade_result(tmp_path / "store")
    data = embedded_json(render_report(report_data(result)))
    assert data["task"] == result.task and [s["index"] for s in data["steps"]] == [1, 2, 3, 4, 5]
    for handle in ("image-1", "mask-1"):
        url = data["artifacts"][handle]["url"]
        assert url.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as png:
            assert list(png.size) == result.artifacts[handle].shape
    assert data["artifacts"]["boxes-1"]["value"] == OCR_LINES
    assert data["artifacts"]["text-1"]["value"] == "a shop sign with <b>three</b> lines"
    assert all(a["path"] is None for a in data["artifacts"].values())


def test_markup_in_run_data_cannot_end_the_script(tmp_path):
    task = "</script><script>document.title='pwned'</script><!--"
    page = render_report(report_data(handmade_result(tmp_path / "store", task=task)))
    assert task not in page
    assert embedded_json(page)["task"] == task


def test_missing_artifact_bytes_are_reported_not_fatal(tmp_path):
    result = handmade_result(tmp_path / "store")
    mask = result.artifacts["mask-1"]
    assert mask.path is not None
    mask.path.unlink()
    data = report_data(result)
    assert "mask-1 could not be read" in data["artifacts"]["mask-1"]["missing"]
    assert data["artifacts"]["image-1"]["url"].startswith("data:image/png")


# -- in a browser: a hand-made Result (every artifact kind) -------------------------------------------
def decoded_images(driver) -> list[dict[str, Any]]:
    return driver.execute_script(
        "return [...document.images]"
        ".map(i => ({src: i.src.slice(0, 40), ok: i.complete && i.naturalWidth > 0}));"
    )


def count(driver, selector: str) -> int:
    return int(driver.execute_script("return document.querySelectorAll(arguments[0]).length;", selector))


def texts(driver, selector: str) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(n => n.textContent);", selector
    )


@pytest.mark.browser
def test_handmade_report_draws_every_kind(browser, tmp_path):
    result = handmade_result(tmp_path / "store")
    path = result.save_report(tmp_path / "reports" / "handmade.html")
    open_report(browser, path)
    images = decoded_images(browser)
    assert images and all(i["ok"] for i in images), images
    assert texts(browser, ".mmr-figure[data-handle='image-1'] .mmr-box-label") == [
        "FRESH BREAD DAILY 0.99",
        "OPEN 7AM - 6PM 0.97",
    ]
    assert count(browser, ".mmr-figure[data-handle='image-1'] image.mmr-mask[data-source='mask-1']") == 1
    assert "a shop sign with <b>three</b> lines" in texts(browser, ".mmr-text-artifact")  # text, not markup
    assert count(browser, ".mmr-text-artifact b") == 0
    assert count(browser, ".mmr-lineage-graph .mmr-node") == len(result.artifacts)
    # Unticking an overlay in the legend hides its boxes.
    browser.execute_script("document.querySelector('.mmr-legend input').click();")
    assert count(browser, ".mmr-box.mmr-hidden") == len(OCR_LINES)
    assert severe_logs(browser) == []


@pytest.mark.browser
def test_pending_run_shows_the_calls_waiting_for_approval(browser, tmp_path):
    result = handmade_result(tmp_path / "store").model_copy(
        update={
            "status": "pending",
            "answer": None,
            "approval": [{"tool": "crop", "arguments": {"box": [1, 2, 3, 4]}}],
        }
    )
    open_report(browser, result.save_report(tmp_path / "pending.html"))
    assert texts(browser, ".mmr-kicker .mmr-badge") == ["pending"]
    assert count(browser, ".mmr-outcome.mmr-pending") == 1 and count(browser, ".mmr-outcome.mmr-answer") == 0
    assert texts(browser, ".mmr-head li b") == ["crop"]
    assert severe_logs(browser) == []


# -- in a browser: reports of real runs through Ray Serve ----------------------------------------------
VISUAL_PLAN = [
    {"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}},
    {"id": 1, "tool": "invert", "arguments": {"image": "image-1"}},
    {"id": 2, "tool": "threshold", "arguments": {"image": "<step-1>", "level": 200}},
    {"id": 3, "tool": "overlay_mask", "arguments": {"image": "image-1", "mask": "<step-2>"}},
    {"id": 4, "tool": "crop", "arguments": {"image": "<step-3>", "box": "<step-0>.lines.items[0].box"}},
    {
        "id": 5,
        "tool": "draw_boxes",
        "arguments": {
            "image": "image-1",
            "boxes": [f"<step-0>.lines.items[{i}].box" for i in range(3)],
            "labels": [f"<step-0>.lines.items[{i}].text" for i in range(3)],
        },
    },
]


@pytest.fixture(scope="module")
def visual_run(orch) -> Result:
    """OCR boxes, a mask, drawn and cropped images: a plan of six steps on the demo sign."""
    task = "read, mask, outline and crop the sign"
    result = orch.run_plan(VISUAL_PLAN, images=[make_demo_image()], task=task)
    assert result.ok, result.failure
    return result


@pytest.mark.ray
def test_result_keeps_the_plan_with_the_steps_that_ran_it(visual_run):
    (plan,) = visual_run.plans
    assert sorted((n.id, n.tool) for n in plan) == [(s["id"], s["tool"]) for s in VISUAL_PLAN]
    assert {n.id: sorted(n.dependencies) for n in plan} == {0: [], 1: [], 2: [1], 3: [2], 4: [0, 3], 5: [0]}
    steps = {s.index: s for s in visual_run.steps}
    for node in plan:
        assert node.step is not None and steps[node.step].tool == node.tool
        assert steps[node.step].thought == f"plan step {node.id}"


@pytest.mark.ray
def test_controller_replan_keeps_both_plans(orch):
    from llm.scripted import ScriptedChatModel

    def plan_turn(steps: list[dict]) -> str:
        return "Thought: a plan\nPlan:\n" + json.dumps(steps)

    first = [
        {"id": 0, "tool": "broken", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "crop", "arguments": {"image": "image-1", "box": [0, 0, 10, 10]}},
        {"id": 2, "tool": "canny", "arguments": {"image": "<step-0>"}},
    ]
    second = [{"id": 0, "tool": "canny", "arguments": {"image": "image-1"}}]
    script = ScriptedChatModel([plan_turn(first), plan_turn(second), "Final Answer: edges in image-3"])
    result = orch.run("edges", images=[np.asarray(make_demo_image())], chat_model=script)
    assert result.ok, result.failure
    assert [[n.tool for n in plan] for plan in result.plans] == [["broken", "crop", "canny"], ["canny"]]
    steps = {s.index: s for s in result.steps}
    broken, crop, not_run = result.plans[0]
    assert steps[broken.step].error and steps[crop.step].tool == "crop" and not_run.step is None
    (again,) = result.plans[1]
    assert steps[again.step].tool == "canny" and again.step > crop.step


@pytest.mark.ray
@pytest.mark.browser
def test_report_of_a_real_run_in_the_browser(browser, visual_run, tmp_path):
    path = visual_run.save_report(tmp_path / "run.html")
    open_report(browser, path)
    images = decoded_images(browser)
    pictures = [a for a in visual_run.artifacts.values() if a.kind in ("image", "mask")]
    assert len(images) >= len(pictures) and all(i["ok"] for i in images), images
    indices = browser.execute_script(
        "return [...document.querySelectorAll('.mmr-step')].map(n => Number(n.dataset.stepIndex));"
    )
    assert indices == [s.index for s in visual_run.steps]
    for step in visual_run.steps:
        if step.tool:
            card = f"#mmr-step-{step.index}"
            assert texts(browser, f"{card} .mmr-tool") == [step.tool]
            assert texts(browser, f"{card} .mmr-replica") == [step.replica]
    lines = visual_run.artifacts["boxes-1"].load()
    assert len(lines) == 3
    assert count(browser, ".mmr-figure[data-handle='image-1'] rect.mmr-box[data-source='boxes-1']") == 3
    labels = texts(browser, ".mmr-figure[data-handle='image-1'] .mmr-box-label")
    assert [label.rsplit(" ", 1)[0] for label in labels] == [line["text"] for line in lines]
    mask_base = visual_run.artifacts["mask-1"].parents[0]
    assert count(browser, f".mmr-figure[data-handle='{mask_base}'] image.mmr-mask") == 1
    plan_nodes = browser.execute_script(
        "return [...document.querySelectorAll('.mmr-plan-graph .mmr-node')].map(n => n.dataset.planStep);"
    )
    assert sorted(map(int, plan_nodes)) == [s["id"] for s in VISUAL_PLAN]
    assert count(browser, ".mmr-plan-graph .mmr-plan-ok") == len(VISUAL_PLAN)
    edges = sum(len(n.dependencies) for n in visual_run.plans[0])
    assert count(browser, ".mmr-plan-graph .mmr-edge") == edges
    assert count(browser, ".mmr-lineage-graph .mmr-node") == len(visual_run.artifacts)
    # Clicking the cropped image's handle tells its lineage down to the input.
    crop = next(h for h, a in visual_run.artifacts.items() if a.producer == "crop")
    browser.execute_script(f"document.querySelector(\".mmr-chip[data-handle='{crop}']\").click();")
    lineage = texts(browser, ".mmr-inspector .mmr-ancestry")[0]
    assert "crop" in lineage and "overlay_mask" in lineage and "image-1" in lineage and "input" in lineage
    assert severe_logs(browser) == []
    screenshot(browser, "report-visual-run")


@pytest.mark.ray
@pytest.mark.browser
def test_report_of_a_failed_run_in_the_browser(browser, orch, tmp_path):
    plan = [
        {"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}},
        {"id": 1, "tool": "broken", "arguments": {"image": "image-1"}},
        {"id": 2, "tool": "crop", "arguments": {"image": "<step-1>", "box": [0, 0, 10, 10]}},
    ]
    result = orch.run_plan(plan, images=[make_demo_image()], task="a plan that breaks")
    assert result.status == "failed" and "step 1 failed" in (result.failure or "")
    data = report_data(result)
    broken = next(s for s in data["steps"] if s["tool"] == "broken")
    # The orchestrator fills these where it records them; the fallbacks stand in where it does not yet.
    fallbacks = {
        "error_type": "model_error",
        "traceback": 'Traceback (most recent call last):\n  File "x.py"\nRuntimeError: boom',
        "repairs": ["read Python-style quotes/literals as JSON"],
    }
    for key, value in fallbacks.items():
        broken[key] = broken.get(key) or value
    path = tmp_path / "failed.html"
    path.write_text(render_report(data), encoding="utf-8")
    open_report(browser, path)
    assert result.failure in texts(browser, ".mmr-outcome.mmr-failed p")
    card = f"#mmr-step-{broken['index']}"
    assert count(browser, f"{card}.mmr-failed") == 1
    assert texts(browser, f"{card} .mmr-error-text") == [broken["error"]]
    assert texts(browser, f"{card} .mmr-badge") == [broken["error_type"]]
    repairs = [r if isinstance(r, str) else json.dumps(r, separators=(",", ":")) for r in broken["repairs"]]
    assert texts(browser, f"{card} .mmr-repairs li") == repairs
    browser.execute_script(f"document.querySelector('{card} .mmr-traceback summary').click();")
    shown = browser.execute_script(f"return document.querySelector('{card} .mmr-traceback pre').innerText;")
    assert shown.strip() == broken["traceback"].strip()
    states = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('.mmr-plan-graph .mmr-node')]"
        ".map(n => [n.dataset.planStep, n.getAttribute('class')]));"
    )
    assert "mmr-plan-ok" in states["0"] and "mmr-plan-failed" in states["1"]
    assert "mmr-plan-not-run" in states["2"]
    assert severe_logs(browser) == []
    screenshot(browser, "report-failed-run")


@pytest.mark.ray
def test_reactor_run_writes_a_report(ray_session, tmp_path, monkeypatch, capsys):
    from orchestrator.cli.main import main
    from tests.support.fake_openai import FakeOpenAI, tool_call

    server = FakeOpenAI(
        [
            tool_call("crop", {"image": "image-1", "box": [40, 40, 200, 120]}, "c1"),
            tool_call("final_answer", {"answer": "cropped to image-2"}, "c2"),
        ]
    )
    config = tmp_path / "config.yaml"
    settings = {"data_dir": str(tmp_path / "data"), "ray": {"app_prefix": "report-"}, "experts": {"crop": {}}}
    config.write_text(json.dumps(settings))  # JSON is YAML
    image = tmp_path / "sign.png"
    make_demo_image().save(image)
    monkeypatch.setenv("MM_REACTOR_LLM_BASE_URL", server.url)
    monkeypatch.setenv("MM_REACTOR_LLM_MODEL", "fake-model")
    report = tmp_path / "out" / "run.html"
    try:
        arguments = ["run", "crop the sign", "--image", str(image), "--config", str(config)]
        code = main([*arguments, "--report", str(report), "--out", str(tmp_path / "out")])
    finally:
        server.close()
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"report written to {report}" in out
    data = embedded_json(report.read_text(encoding="utf-8"))
    assert data["task"] == "crop the sign" and data["answer"] == "cropped to image-2"
    assert data["steps"][0]["tool"] == "crop"
    assert data["artifacts"]["image-2"]["url"].startswith("data:image/png;base64,")
