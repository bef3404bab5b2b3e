"""OpenAICompatibleChatModel against a tiny fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from llm import ChatMessage, ChatModel, ControllerConfig, LLMError, OpenAICompatibleChatModel

MSGS: list[ChatMessage] = [
    {"role": "system", "content": "You plan tool calls."},
    {"role": "user", "content": "How many dogs are in image_0?"},
]


@dataclass
class Reply:
    """One scripted HTTP reply of the fake server."""

    status: int = 200
    body: Any = None


@dataclass
class FakeServer:
    """Records requests and answers them with queued replies (default: a fixed completion)."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self) -> Reply:
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
        return Reply(200, completion("Thought: I should count the dogs."))


def completion(content: str | None) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            state.requests.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "json": json.loads(raw),
                }
            )
            reply = state.next_reply()
            data = reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def make_model(base_url: str, **overrides: Any) -> OpenAICompatibleChatModel:
    cfg = ControllerConfig(backend="openai", base_url=base_url, model="qwen-test", timeout_s=5, **overrides)
    return OpenAICompatibleChatModel(cfg, backoff_s=0.01)


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MM_REACTOR_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_request_body_headers_and_reply(server: FakeServer) -> None:
    model = make_model(
        server.url, api_key="sk-test", temperature=0.3, max_tokens=77, extra_headers={"X-Trace": "1"}
    )
    assert isinstance(model, ChatModel)
    assert model.is_replay is False
    assert model.label == f"openai-compatible qwen-test @ {server.url}"

    reply = model.complete(MSGS, stop=["Observation:"])

    assert reply == "Thought: I should count the dogs."
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == "Bearer sk-test"
    assert req["headers"]["x-trace"] == "1"
    assert req["json"] == {
        "model": "qwen-test",
        "messages": MSGS,
        "temperature": 0.3,
        "max_tokens": 77,
        "stop": ["Observation:"],
    }


def test_no_key_means_no_authorization_and_no_stop(server: FakeServer) -> None:
    make_model(server.url).complete(MSGS)
    (req,) = server.requests
    assert "authorization" not in req["headers"]
    assert "stop" not in req["json"]


def test_key_from_environment(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    make_model(server.url).complete(MSGS)
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-from-env"


def test_null_content_is_empty_string(server: FakeServer) -> None:
    server.replies.append(Reply(200, completion(None)))
    assert make_model(server.url).complete(MSGS) == ""


def test_retries_503_then_succeeds(server: FakeServer) -> None:
    server.replies += [Reply(503, {"error": {"message": "loading"}}), Reply(429, {"error": "slow down"})]
    assert make_model(server.url).complete(MSGS) == "Thought: I should count the dogs."
    assert len(server.requests) == 3


def test_gives_up_after_two_retries(server: FakeServer) -> None:
    server.replies += [Reply(503, {"error": "down"})] * 5
    with pytest.raises(LLMError, match=r"HTTP 503 after 3 attempts: down"):
        make_model(server.url).complete(MSGS)
    assert len(server.requests) == 3


def test_400_raises_without_retry(server: FakeServer) -> None:
    server.replies.append(Reply(400, {"error": {"message": "max_tokens is too large"}}))
    with pytest.raises(LLMError) as info:
        make_model(server.url).complete(MSGS)
    msg = str(info.value)
    assert "HTTP 400" in msg
    assert server.url in msg
    assert "max_tokens is too large" in msg
    assert len(server.requests) == 1


def test_401_names_the_key(server: FakeServer) -> None:
    server.replies.append(Reply(401, {"error": "bad key"}))
    with pytest.raises(LLMError, match=r"HTTP 401.*API key"):
        make_model(server.url).complete(MSGS)


def test_malformed_bodies(server: FakeServer) -> None:
    server.replies += [Reply(200, "not json"), Reply(200, {"choices": []})]
    model = make_model(server.url)
    with pytest.raises(LLMError, match="non-JSON"):
        model.complete(MSGS)
    with pytest.raises(LLMError, match="unexpected body"):
        model.complete(MSGS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_names_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMError) as info:
        make_model(url).complete(MSGS)
    msg = str(info.value)
    assert f"{url}/chat/completions" in msg
    assert "is the server running" in msg
    assert "MM_REACTOR_LLM_BASE_URL" in msg
