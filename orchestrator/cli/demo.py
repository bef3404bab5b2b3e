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

__all__ = [
    "DEMO_LINES",
    "DEMO_TASK",
    "demo_backend",
    "demo_controller",
    "last_observations",
    "make_demo_image",
]

DEMO_TASK = "Read the text on this sign, outline each line of text, and crop out the first line."
DEMO_LINES = ("FRESH BREAD DAILY", "OPEN 7AM - 6PM", "CLOSED ON MONDAYS")


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
