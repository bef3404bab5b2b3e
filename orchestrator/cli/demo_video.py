"""The offline video demo: a generated clip, a replayed controller, the real video, OCR and cut-out experts.

The clip shows a shop sign whose text changes every second and a red ball rolling along the
bottom. The task gives the ball's mask at one moment (a named input, ``mask-1``); the policy
samples one frame per second, reads each with OCR and cuts the ball out of the frame its mask
belongs to, in parallel, then answers from what the tools returned. Like the image demo's, each
reply is computed from the observations it has seen; nothing is canned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from llm.base import ChatMessage
from llm.scripted import ScriptedChatModel
from orchestrator.cli.demo import last_observations

__all__ = [
    "CLIP_FPS",
    "CLIP_SECONDS",
    "MASK_TIME",
    "SIGN_TEXTS",
    "VIDEO_DEMO_TASK",
    "ball_mask",
    "check_answer",
    "make_demo_clip",
    "video_demo_controller",
]

SIGN_TEXTS = ("OPEN", "SALE TODAY", "CLOSED")
"""What the sign says in each second of the clip."""
CLIP_SECONDS, CLIP_FPS, SIZE = 3, 10, (640, 360)
MASK_TIME = 1.5
"""The moment (seconds) the task's ball mask is drawn for."""
VIDEO_DEMO_TASK = (
    "What does the shop sign in this clip say over time? Also cut the red ball out of the frame at "
    f"{MASK_TIME:g} s; mask-1 is its mask at that moment."
)
_RADIUS = 34


def _ball_center(seconds: float) -> tuple[int, int]:
    """The ball rolls from left to right along the bottom of the frame."""
    x = 70 + round((SIZE[0] - 140) * seconds / CLIP_SECONDS)
    return x, 285


def frame_at(seconds: float) -> np.ndarray:
    """The clip's picture at ``seconds``: the sign, its text for that second, and the ball."""
    image = Image.new("RGB", SIZE, (222, 232, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 30, 600, 170), fill=(250, 246, 235), outline=(60, 60, 60), width=6)
    text = SIGN_TEXTS[min(int(seconds), len(SIGN_TEXTS) - 1)]
    font = ImageFont.load_default(size=64)
    draw.text((70, 62), text, fill=(20, 20, 20), font=font)
    x, y = _ball_center(seconds)
    draw.ellipse((x - _RADIUS, y - _RADIUS, x + _RADIUS, y + _RADIUS), fill=(220, 40, 30))
    return np.asarray(image)


def ball_mask(seconds: float = MASK_TIME) -> np.ndarray:
    """The ball's mask (HxW bool) at ``seconds``: what a user would hand over with the task."""
    x, y = _ball_center(seconds)
    rows, cols = np.ogrid[: SIZE[1], : SIZE[0]]
    return (cols - x) ** 2 + (rows - y) ** 2 <= (_RADIUS - 1) ** 2


def make_demo_clip() -> bytes:
    """The clip as an mp4 file's bytes (H.264, made with PyAV)."""
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for index in range(CLIP_SECONDS * CLIP_FPS):
            frame = av.VideoFrame.from_ndarray(frame_at(index / CLIP_FPS), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def _sample(messages: list[ChatMessage]) -> str:
    listing = messages[-1]["content"]
    found = re.search(r"- (video-\d+): video .*?(\d+(?:\.\d+)?) s", listing)
    if found is None:
        return "Thought: there is no video here.\nFinal Answer: I was given no video to look at."
    video, seconds = found.group(1), float(found.group(2))
    times = [round(k + 0.5, 3) for k in range(int(seconds))]  # one frame in the middle of every second
    if MASK_TIME not in times:
        times.append(MASK_TIME)
    call = {"video": video, "mode": "times", "times": sorted(times)}
    return (
        "Thought: I cannot watch the clip, so I will take one frame from every second (and the frame the "
        "ball's mask is for) and look at those.\n"
        f"Action: video_frames\nAction Input: {json.dumps(call)}"
    )


def _read_and_cut(messages: list[ChatMessage]) -> str:
    body = next((b for b in last_observations(messages) if b.get("tool") == "video_frames"), None)
    if body is None or "error" in body:
        problem = body["error"] if body else "no video_frames observation arrived"
        return f"Thought: I could not get the frames.\nFinal Answer: I could not sample the clip: {problem}"
    frames = body["output"]["frames"]
    at_mask = min(frames, key=lambda f: abs(f["time"] - MASK_TIME))
    actions = [f"Action: ocr\nAction Input: {json.dumps({'image': f['image']['handle']})}" for f in frames]
    cut = {"image": at_mask["image"]["handle"], "masks": "mask-1"}
    actions.append(f"Action: cutout\nAction Input: {json.dumps(cut)}")
    return (
        f"Thought: I have {len(frames)} frames. I will read the sign on each with OCR and cut the ball out "
        f"of the frame at {at_mask['time']:g} s, all at once since the calls are independent.\n"
        + "\n".join(actions)
    )


def _answer(messages: list[ChatMessage]) -> str:
    frames_body = next(
        b
        for m in messages
        if m["role"] == "user"
        for b in last_observations([m])
        if b.get("tool") == "video_frames"
    )
    times = {f["image"]["handle"]: f["time"] for f in frames_body["output"]["frames"]}
    observed = last_observations(messages)
    readings, problems = [], []
    ocr_steps = [b for b in observed if b.get("tool") == "ocr"]
    for handle, body in zip(times, ocr_steps, strict=False):
        if "error" in body:
            problems.append(f"OCR failed on {handle}: {body['error']}")
            continue
        text = " ".join(item["text"] for item in body["output"]["lines"]["items"]) or "(nothing legible)"
        readings.append(f'"{text}" at {times[handle]:g} s')
    parts = ["The sign reads " + ", then ".join(readings) + "." if readings else "I could not read the sign."]
    cut: dict[str, Any] = next(
        (b for b in observed if b.get("tool") == "cutout"), {"error": "no cutout observation"}
    )
    if "error" in cut:
        problems.append(f"cutout failed: {cut['error']}")
    else:
        image = cut["output"]["images"][0]
        parts.append(
            f"{image['handle']} is the red ball cut out of the frame at {MASK_TIME:g} s "
            f"({cut['output']['areas'][0]} pixels, transparent around it)."
        )
    return "Thought: I have the readings and the cut-out.\nFinal Answer: " + " ".join(parts + problems)


def video_demo_controller() -> ScriptedChatModel:
    """The replayed video demo policy (labelled as a replay in every result)."""
    policy: list[str | Callable[[list[ChatMessage]], str]] = [_sample, _read_and_cut, _answer]
    return ScriptedChatModel(policy, label="scripted replay (offline video demo policy)")


def check_answer(answer: str | None) -> list[str]:
    """What the demo's answer misses: each sign text, in order, and the cut-out (empty when it is right)."""
    answer = answer or ""
    missing = [f'the sign text "{text}"' for text in SIGN_TEXTS if f'"{text}"' not in answer]
    positions = [answer.find(f'"{text}"') for text in SIGN_TEXTS]
    if not missing and positions != sorted(positions):
        missing.append("the sign texts in the order they appear")
    if "cut out of the frame" not in answer:
        missing.append("the cut-out of the ball")
    return missing
