"""The offline demo: a sign image, a replayed controller policy, real OCR and image experts.

The replayed policy is not a canned transcript: each reply is computed from the
observations it has seen (the OCR lines and boxes), as an LLM would; its final answer
quotes the actual tool outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont

from llm.base import ChatMessage
from llm.config import ControllerConfig
from llm.scripted import ScriptedChatModel
from orchestrator.config import ReactorConfig
from orchestrator.errors import ConfigError
from orchestrator.result import Result

__all__ = [
    "DEMO_EXPERTS",
    "DEMO_LINES",
    "DEMO_TASK",
    "check_demo_config",
    "check_demo_result",
    "demo_backend",
    "demo_controller",
    "last_observations",
    "make_demo_image",
]

DEMO_TASK = "Read the text on this sign, outline each line of text, and crop out the first line."
DEMO_LINES = ("FRESH BREAD DAILY", "OPEN 7AM - 6PM", "CLOSED ON MONDAYS")
DEMO_EXPERTS = ("ocr", "draw_boxes", "crop")
"""The experts the replayed demo policy calls."""


def check_demo_config(config: ReactorConfig, path: str | None) -> None:
    """:class:`ConfigError`, before anything starts, when the config does not enable the demo's experts."""
    enabled = config.enabled_experts()
    missing = [name for name in DEMO_EXPERTS if name not in enabled]
    if missing:
        raise ConfigError(
            f"the demo calls {', '.join(DEMO_EXPERTS)}, but {path or 'the config'} does not enable "
            f"{', '.join(missing)}. A config's experts: section replaces the packaged list (it is not "
            "merged with it): list every expert to deploy, e.g. start from a copy of "
            "orchestrator/default_config.yaml."
        )


def check_demo_result(result: Result, *, replay: bool) -> list[str]:
    """What went wrong in a demo run (empty when it worked): a failed run, a failed call, and for the
    replayed policy a missing call or image."""
    problems = [] if result.ok else [f"the run ended {result.status}: {result.failure or 'no reason given'}"]
    problems += [
        f"step {step.index} ({step.tool}) failed: {step.error}" for step in result.steps if step.error
    ]
    if replay:
        made = {step.tool for step in result.steps if step.tool and not step.error and step.new_handles}
        problems += [f"no {tool} step made its artifact" for tool in DEMO_EXPERTS if tool not in made]
    return problems


def make_demo_image() -> Image.Image:
    """A 800x480 shop sign: three lines of text and some shapes."""
    image = Image.new("RGB", (800, 480), (250, 246, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((12, 12, 787, 467), outline=(60, 60, 60), width=6)
    font = ImageFont.load_default(size=48)
    for row, line in enumerate(DEMO_LINES):
        draw.text((60, 60 + row * 110), line, fill=(20, 20, 20), font=font)
    draw.ellipse((620, 330, 740, 450), fill=(220, 60, 40))
    draw.rectangle((470, 370, 590, 440), fill=(40, 110, 200))
    draw.polygon([(60, 440), (140, 350), (220, 440)], fill=(60, 160, 80))
    return image


def last_observations(messages: list[ChatMessage]) -> list[dict]:
    """The JSON bodies of the observations in the latest user message."""
    text = messages[-1]["content"]
    bodies = []
    for line in text.splitlines():
        if line.startswith("Observation"):
            _, _, payload = line.partition(": ")
            try:
                bodies.append(json.loads(payload))
            except json.JSONDecodeError:
                continue
    return bodies


def _read_first(messages: list[ChatMessage]) -> str:
    return (
        "Thought: I cannot see the image, so I will read its text with OCR first.\n"
        "Action: ocr\n"
        'Action Input: {"image": "image-1"}'
    )


def _outline_and_crop(messages: list[ChatMessage]) -> str:
    ocr = next((b for b in last_observations(messages) if b.get("tool") == "ocr"), None)
    if ocr is None or "error" in ocr:
        problem = ocr["error"] if ocr else "no OCR observation arrived"
        return f"Thought: OCR did not work.\nFinal Answer: I could not read the sign: {problem}"
    items = ocr["output"]["lines"]["items"]
    if not items:
        return "Thought: OCR found no text.\nFinal Answer: I found no text on this image."
    boxes = [item["box"] for item in items]
    labels = [item["text"] for item in items]
    width, height = ocr["output"]["image_size"]
    x0, y0, x1, y1 = boxes[0]
    pad = 8
    crop = [max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)]
    return (
        f"Thought: OCR found {len(items)} lines. I will outline all of them and crop the first, "
        "in parallel since the two calls are independent.\n"
        "Action: draw_boxes\n"
        f"Action Input: {json.dumps({'image': 'image-1', 'boxes': boxes, 'labels': labels})}\n"
        "Action: crop\n"
        f"Action Input: {json.dumps({'image': 'image-1', 'box': crop})}"
    )


def _answer(messages: list[ChatMessage]) -> str:
    bodies = {b.get("tool"): b for b in last_observations(messages)}
    ocr_text = next(
        (m["content"] for m in reversed(messages) if m["role"] == "user" and '"tool": "ocr"' in m["content"]),
        "",
    )
    ocr = last_observations([{"role": "user", "content": ocr_text}])[0]
    lines = [item["text"] for item in ocr["output"]["lines"]["items"]]
    parts = ["The sign reads: " + " / ".join(f'"{line}"' for line in lines) + "."]
    for tool, what in (
        ("draw_boxes", f"outlines the {len(lines)} lines of text"),
        ("crop", "is the first line"),
    ):
        body = bodies.get(tool, {})
        if "error" in body or not body:
            parts.append(f"{tool} failed: {body.get('error', 'no observation')}.")
        else:
            parts.append(f"{body['output']['image']['handle']} {what}.")
    return "Thought: I have the text and both images.\nFinal Answer: " + " ".join(parts)


def demo_controller() -> ScriptedChatModel:
    """The replayed demo policy (labelled as a replay in every result)."""
    policy: list[str | Callable[[list[ChatMessage]], str]] = [_read_first, _outline_and_crop, _answer]
    return ScriptedChatModel(policy, label="scripted replay (offline demo policy)")


def demo_backend(config: ControllerConfig) -> ScriptedChatModel:
    """The demo policy as a controller backend, for ``reactor serve --local --demo``: in a config,
    ``controller: {backend: {class: orchestrator.cli.demo:demo_backend}}``."""
    return demo_controller()
