"""Videos and named inputs over the service: uploads through the REST API and the remote Client, the caps
refused with 413/415 and a clear message, the video artifact served with its type and in the report."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from orchestrator.errors import InputError
from orchestrator.service.report import report_data
from tests.support.browser import open_report, severe_logs
from tests.support.videos import encode_video
from tests.test_service_api import _remote, auth, service

pytest.importorskip("av")
pytestmark = pytest.mark.ray

NOOP = [{"id": 0, "tool": "noop", "arguments": {"payload": "seen"}}]


@pytest.fixture(scope="module")
def clip() -> bytes:
    return encode_video(30)  # 96x64, 30 frames at 10 fps


@contextmanager
def video_caps(orch: Any, **caps: Any) -> Iterator[None]:
    """The orchestrator's video caps changed for the services made inside (their upload limits)."""
    before = {name: getattr(orch.config, name) for name in caps}
    for name, value in caps.items():
        setattr(orch.config, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(orch.config, name, value)


def test_the_client_sends_videos_and_named_inputs(orch, clip, tmp_path):
    mask = np.zeros((64, 96), bool)
    mask[10:30, 20:60] = True
    inputs = {
        "mask-1": {"mask": mask, "for": "video-1"},
        "boxes-1": {"boxes": [[0, 0, 20, 20], {"box": [30, 10, 90, 60], "label": "ball"}], "for": "video-1"},
        "text-1": "a red room, then a blue one",
    }
    with service(orch) as http:
        client = _remote(http)
        result = client.run_plan(NOOP, videos=[clip], inputs=inputs, session="video-remote")
        assert result.ok, result.failure
        video = result.artifacts["video-1"]
        assert video.kind == "video" and video.shape[:3] == [96, 64, 30] and video.producer == "input"
        assert abs(video.shape[3] - 3000) <= 11  # the duration in ms
        assert result.artifacts["mask-1"].parents == ["video-1"] and result.artifacts["mask-1"].kind == "mask"
        assert result.artifacts["boxes-1"].load()[1] == {"box": [30, 10, 90, 60], "label": "ball"}
        assert result.artifacts["text-1"].load() == "a red room, then a blue one"
        assert client.artifact(video) == clip

        served = http.get(f"/v1/artifacts/{video.id}", headers=auth("alice"))
        assert served.status_code == 200 and served.headers["content-type"] == "video/mp4"
        assert served.content == clip and served.headers["ETag"] == f'"{video.id}"'
        assert http.get(f"/v1/artifacts/{video.id}", headers=auth("bob")).status_code == 404

        data = report_data(result)["artifacts"]["video-1"]
        assert data["url"].startswith("data:video/mp4;base64,")
        assert base64.b64decode(data["url"].split(",", 1)[1]) == clip

        later = [e.type for e in client.stream("look again", videos=clip, session="video-remote")]
        assert later[0] == "start" and later[-1] == "end"
        assert "video-2" in client.session_artifacts("video-remote")


def test_video_caps_are_refused_before_any_task(orch, clip):
    long_clip = encode_video(60, fmt="matroska")  # 6 s, its duration in the header
    with video_caps(orch, max_video_seconds=4.0, max_video_frames=45), service(orch) as http:
        client = _remote(http)
        too_long = r"video 1 is 6\.0 s long, over the limit of 4 \(max_video_seconds\)"
        with pytest.raises(InputError, match=too_long):
            client.run_plan(NOOP, videos=[long_clip], session="video-caps")
        refused = http.post(
            "/v1/tasks",
            files=[
                ("plan", (None, json.dumps(NOOP))),
                ("video-1", ("c.mp4", encode_video(50, fps=20), "video/mp4")),
            ],
            headers=auth("alice"),
        )
        assert refused.status_code == 413
        assert re.search(
            r"input 'video-1' is (50|46) frames long, over the limit of 45 \(max_video_frames\)",
            refused.json()["error"],
        )
        for data, status, message in [
            (clip[: len(clip) // 2], 415, "video 1 cannot be used as a video"),
            (b"GIF89a not really", 415, "video 1 cannot be used as a video"),
        ]:
            answer = http.post(
                "/v1/tasks",
                files=[("plan", (None, json.dumps(NOOP))), ("videos", ("c.bin", data, "video/mp4"))],
                headers=auth("alice"),
            )
            assert answer.status_code == status and message in answer.json()["error"], answer.text
        tasks = http.get("/v1/sessions", headers=auth("alice")).json()["sessions"]
        assert "video-caps" not in [s["session"] for s in tasks]  # refused before any work
        assert client.run_plan(NOOP, videos=[clip], session="video-caps-ok").ok


@pytest.mark.browser
def test_the_report_plays_the_video(orch, browser, tmp_path):
    webm = encode_video(20, fmt="webm")
    with service(orch) as http:
        result = _remote(http).run_plan(NOOP, videos=[webm], session="video-report")
        path = result.save_report(tmp_path / "video.html")  # reads the video over HTTP
    open_report(browser, path)
    browser.execute_script(
        "const v = document.querySelector(\".mmr-figure[data-handle='video-1'] video\");"
        "if (v.readyState < 1) return new Promise(r => v.addEventListener('loadedmetadata', r));"
    )
    size = browser.execute_script(
        "const v = document.querySelector(\".mmr-figure[data-handle='video-1'] video\");"
        "return [v.videoWidth, v.videoHeight, Math.round(v.duration)];"
    )
    assert size == [96, 64, 2]
    caption = browser.execute_script(
        "return document.querySelector(\".mmr-figure[data-handle='video-1'] figcaption\").textContent;"
    )
    assert "96\u00d764, 20 frames, 2.0 s" in caption
    assert severe_logs(browser) == []
