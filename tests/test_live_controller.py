"""The live path: `reactor run` with an OpenAI-compatible endpoint (a local fake) using native tool calls."""

from __future__ import annotations

import pytest

from orchestrator.cli.demo import make_demo_image
from orchestrator.cli.main import main
from tests.support.fake_openai import FakeOpenAI, tool_call

pytestmark = pytest.mark.ray


def test_reactor_run_streams_a_live_native_tool_session(ray_session, tmp_path, monkeypatch, capsys):
    def answer_from_ocr(request):
        observation = next(m for m in reversed(request["messages"]) if m["role"] == "tool")["content"]
        first_line = observation.split('"text": "')[1].split('"')[0]
        return tool_call("final_answer", {"answer": f"The first line says {first_line}"}, "c2")(request)

    server = FakeOpenAI([tool_call("ocr", {"image": "image-1"}, "c1"), answer_from_ocr])
    image = tmp_path / "sign.png"
    make_demo_image().save(image)
    monkeypatch.setenv("MM_REACTOR_LLM_BASE_URL", server.url)
    monkeypatch.setenv("MM_REACTOR_LLM_MODEL", "fake-model")
    monkeypatch.setenv("MM_REACTOR_DATA", str(tmp_path / "data"))
    try:
        code = main(
            ["run", "What does the first line say?", "--image", str(image), "--out", str(tmp_path / "out")]
        )
    finally:
        server.close()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "✓ ocr" in out and "→ boxes-1" in out
    assert "answer: The first line says FRESH BREAD DAILY" in out
    first, second = server.requests
    assert first["model"] == "fake-model" and {t["function"]["name"] for t in first["tools"]} >= {
        "ocr",
        "final_answer",
    }
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": second["messages"][-1]["content"],
    }
