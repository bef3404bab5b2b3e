"""A fake OpenAI-compatible chat server on 127.0.0.1 that replays prepared replies (tests only)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], dict[str, Any]]


def tool_call(name: str, arguments: dict[str, Any], call_id: str) -> Reply:
    """A reply that calls one function."""

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}

    return reply


class FakeOpenAI:
    """Serves ``/v1/chat/completions`` from a list of reply builders; records every request body and
    its headers.

    ``refuse_with_echo=True`` answers every request with HTTP 401 and a body quoting the request's
    ``Authorization`` header, as some proxies do.
    """

    def __init__(self, replies: list[Reply], *, refuse_with_echo: bool = False) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                quoted = f"Authorization: {self.headers.get('Authorization')}"
                payload = json.dumps({"error": {"message": f"invalid credentials ({quoted})"}}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
                if refuse_with_echo:
                    self._refuse()
                    return
                message = fake.replies.pop(0)(body) if fake.replies else {"role": "assistant", "content": "?"}
                payload = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
