"""The REST API on real runs (the shared Ray and its experts), called in-process through FastAPI's TestClient:
auth, ownership, limits, upload caps, events, results, artifacts, approval, cancellation, two replicas."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from llm.base import LLMError
from llm.scripted import ScriptedChatModel
from orchestrator.config import ServiceConfig
from orchestrator.errors import InputError
from orchestrator.result import Result
from orchestrator.service.app import create_app
from orchestrator.service.client import Client
from orchestrator.service.host import ServiceHost
from orchestrator.service.keys import hash_key

pytestmark = pytest.mark.ray

KEYS = {"alice": "key-of-alice", "bob": "key-of-bob"}
CROP = [
    'Thought: crop the corner\nAction: crop\nAction Input: {"image": "image-1", "box": [0, 0, 20, 10]}',
    "Thought: done\nFinal Answer: the corner is image-2",
]
SLEEPY = ['Thought: wait\nAction: sleepy\nAction Input: {"seconds": 0.6}'] * 5 + ["Final Answer: waited"]


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[who]}"}


def png(width: int = 64, height: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 120, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def service(orch: Any, replies: list[str] | None = CROP, **settings: Any) -> Iterator[TestClient]:
    """An ingress (its own ServiceHost and app) on the shared orchestrator, with a scripted controller."""

    def controller() -> ScriptedChatModel:
        if replies is None:
            raise LLMError("no controller in this test")
        return ScriptedChatModel(list(replies))

    config = ServiceConfig(api_key_hashes=[hash_key(k) for k in KEYS.values()], **settings)
    host = ServiceHost(orch, controller=controller, owns_orchestrator=False, service=config)
    try:
        with TestClient(create_app(host)) as client:
            yield client
    finally:
        host.close()


def submit(client: TestClient, who: str = "alice", images: tuple[bytes, ...] = (), **fields: Any) -> Any:
    parts = [(k, (None, str(v))) for k, v in ({"task": "crop the corner"} | fields).items() if v is not None]
    parts += [("images", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
    return client.post("/v1/tasks", files=parts, headers=auth(who))


def events(
    client: TestClient, task_id: str, who: str = "alice", **headers: str
) -> list[tuple[int, str, dict]]:
    found, current = [], {}
    with client.stream("GET", f"/v1/tasks/{task_id}/events", headers=auth(who) | headers) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if not line:
                found.append((int(current["id"]), current["event"], json.loads(current["data"])))
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = value
    return found


def finished(client: TestClient, task_id: str, who: str = "alice") -> dict[str, Any]:
    response = client.get(f"/v1/tasks/{task_id}", params={"wait": 30}, headers=auth(who))
    assert response.status_code == 200, response.text
    return response.json()


def test_every_v1_route_needs_a_valid_key(orch):
    with service(orch) as client:
        for method, path in [
            ("post", "/v1/tasks"),
            ("get", "/v1/tasks/x"),
            ("get", "/v1/experts"),
            ("get", "/v1/sessions"),
            ("get", "/v1/artifacts/" + "a" * 64),
        ]:
            bare = getattr(client, method)(path)
            assert bare.status_code == 401 and bare.headers["WWW-Authenticate"] == "Bearer"
            assert "Authorization: Bearer" in bare.json()["error"]
            wrong = getattr(client, method)(path, headers={"Authorization": "Bearer not-a-key"})
            assert wrong.status_code == 401
        assert client.get("/healthz").json() == {"status": "ok"}
        assert "/v1/tasks" in client.get("/openapi.json").json()["paths"]
        preflight = {"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"}
        assert "access-control-allow-origin" not in client.options("/v1/tasks", headers=preflight).headers
        docs = client.get("/docs").text
        assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs  # works offline
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_cors_is_only_for_configured_origins(orch):
    with service(orch, cors_origins=["http://ui.example"]) as client:
        asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = client.options("/v1/tasks", headers=asked | {"Origin": "http://ui.example"})
        assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
        other = client.options("/v1/tasks", headers=asked | {"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_a_task_streams_its_events_and_returns_the_sdk_result(orch):
    with service(orch) as client:
        accepted = submit(client, images=(png(),))
        assert accepted.status_code == 202, accepted.text
        task_id = accepted.json()["task_id"]
        stream = events(client, task_id)
        assert [seq for seq, _, _ in stream] == list(range(1, len(stream) + 1))
        kinds = [kind for _, kind, _ in stream]
        assert kinds[0] == "start" and kinds[-1] == "end" and "tool_end" in kinds
        assert next(e for _, k, e in stream if k == "tool_end")["new_handles"] == ["image-2"]
        assert [k for _, k, _ in events(client, task_id, **{"Last-Event-ID": "2"})] == kinds[2:]

        body = finished(client, task_id)
        result = Result.model_validate(body)  # the SDK's schema
        assert result.status == "answered" and result.answer == "the corner is image-2"
        crop = body["artifacts"]["image-2"]
        assert crop["path"] is None and crop["url"] == f"http://testserver/v1/artifacts/{crop['id']}"
        assert stream[-1][2]["result"]["artifacts"]["image-2"]["url"] == crop["url"]

        image = client.get(crop["url"], headers=auth("alice"))
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.headers["ETag"] == f'"{crop["id"]}"'
        assert Image.open(io.BytesIO(image.content)).size == (20, 10)
        again = client.get(crop["url"], headers=auth("alice") | {"If-None-Match": image.headers["ETag"]})
        assert again.status_code == 304 and not again.content

        session = client.get(f"/v1/sessions/{result.session}", headers=auth("alice")).json()
        assert [t["task_id"] for t in session["tasks"]] == [task_id]
        assert session["artifacts"]["image-2"]["parents"] == ["image-1"]
        assert session["transcript"]["messages"] >= 3
        full = client.get(f"/v1/sessions/{result.session}?transcript=full", headers=auth("alice")).json()
        assert full["transcript"][0]["role"] == "user"


def test_another_key_finds_nothing_of_alices(orch):
    with service(orch) as client:
        task_id = submit(client, images=(png(),), session="alice-private").json()["task_id"]
        body = finished(client, task_id)
        artifact = body["artifacts"]["image-2"]["url"]
        for path in [
            f"/v1/tasks/{task_id}",
            f"/v1/tasks/{task_id}/events",
            artifact,
            "/v1/sessions/alice-private",
        ]:
            assert client.get(path, headers=auth("bob")).status_code == 404, path
        assert client.post(f"/v1/tasks/{task_id}/cancel", headers=auth("bob")).status_code == 404
        hijack = submit(client, who="bob", session="alice-private")
        assert hijack.status_code == 404 and "alice-private" in hijack.json()["error"]
        assert "alice-private" not in json.dumps(client.get("/v1/sessions", headers=auth("bob")).json())
        assert "alice-private" in json.dumps(client.get("/v1/sessions", headers=auth("alice")).json())


def test_upload_caps_and_bad_fields_refuse_before_any_task(orch):
    with service(orch, max_upload_images=1) as client:
        huge = png(8000, 6000)  # 48 Mpx: over the default 40 Mpx cap
        refused = submit(client, images=(huge,), session="caps")
        assert refused.status_code == 413 and "pixel limit" in refused.json()["error"]
        assert submit(client, images=(png(), png()), session="caps").status_code == 413
        named = client.post(
            "/v1/tasks",
            files=[("task", (None, "x")), ("images", (None, "/etc/passwd"))],
            headers=auth("alice"),
        )
        assert named.status_code == 400 and "cannot name a file" in named.json()["error"]
        assert submit(client, max_steps="many", session="caps").status_code == 422
        assert submit(client, session="../etc", images=(png(),)).status_code == 422
        assert client.get("/v1/sessions/caps", headers=auth("alice")).status_code == 404  # never created


def test_rate_limit_per_key_answers_429_with_retry_after(orch):
    with service(orch, requests_per_minute=60) as client:
        codes = [client.get("/v1/sessions", headers=auth("alice")).status_code for _ in range(11)]
        assert codes[:10] == [200] * 10 and codes[10] == 429
        refused = client.get("/v1/sessions", headers=auth("alice"))
        assert int(refused.headers["Retry-After"]) >= 1 and "a minute" in refused.json()["error"]
        assert client.get("/v1/sessions", headers=auth("bob")).status_code == 200


def test_concurrent_tasks_per_key_are_limited_and_cancel_stops_one(orch):
    with service(orch, replies=SLEEPY, max_tasks_per_key=1) as client:
        first = submit(client, task="wait a while").json()["task_id"]
        second = submit(client, task="and another")
        assert second.status_code == 429 and second.headers["Retry-After"]
        assert submit(client, who="bob", task="bob waits too").status_code == 202
        assert client.post(f"/v1/tasks/{first}/cancel", headers=auth("alice")).json()["cancelled"] is True
        body = finished(client, first)
        assert body["status"] == "cancelled" and len([s for s in body["steps"] if s["tool"]]) < 5


def test_plans_run_without_an_llm_and_tasks_say_there_is_none(orch):
    with service(orch, replies=None) as client:
        no_llm = submit(client, images=(png(),))
        assert no_llm.status_code == 503 and "send a plan" in no_llm.json()["error"]
        plan = [{"id": 0, "tool": "crop", "arguments": {"image": "image-1", "box": [0, 0, 8, 8]}}]
        accepted = submit(client, task=None, images=(png(),), plan=json.dumps(plan))
        assert accepted.status_code == 202, accepted.text
        body = finished(client, accepted.json()["task_id"])
        assert body["status"] == "answered" and body["artifacts"]["image-2"]["shape"] == [8, 8]
        bad = submit(client, task=None, images=(png(),), plan=json.dumps([{"id": 0, "tool": "nope"}]))
        assert bad.status_code == 422 and "nope" in bad.json()["error"]


def test_a_pending_task_is_approved_and_runs_on(orch):
    orch.config.approval_required = ["crop"]
    try:
        with service(orch) as client:
            task_id = submit(client, images=(png(),)).json()["task_id"]
            pending = finished(client, task_id)
            assert pending["status"] == "pending" and pending["approval"][0]["tool"] == "crop"
            seen = len(events(client, task_id))
            approved = client.post(
                f"/v1/tasks/{task_id}/approve", json={"reason": "fine"}, headers=auth("alice")
            )
            assert approved.status_code == 202 and approved.json()["after"] == seen
            assert client.post(f"/v1/tasks/{task_id}/deny", headers=auth("alice")).status_code == 409
            more = events(client, task_id, **{"Last-Event-ID": str(seen)})
            assert more[0][1] == "start" and more[0][2]["resumed"] and more[-1][1] == "end"
            assert finished(client, task_id)["status"] == "answered"
    finally:
        orch.config.approval_required = []


def test_results_events_and_cancel_work_through_another_replica(orch):
    """Two ingress replicas share the task database: one runs a task, the other follows and cancels it."""
    with service(orch, replies=SLEEPY) as replica_a, service(orch, replies=SLEEPY) as replica_b:
        task_id = submit(replica_a, task="wait on replica a").json()["task_id"]
        cancel = replica_b.post(f"/v1/tasks/{task_id}/cancel", headers=auth("alice")).json()
        assert cancel["cancelled"] is True
        stream = events(replica_b, task_id)
        assert stream[-1][1] == "end" and stream[-1][2]["result"]["status"] == "cancelled"
        assert finished(replica_b, task_id)["status"] == "cancelled"


def test_metrics_and_the_expert_catalogue(orch):
    with service(orch) as client:
        finished(client, submit(client, images=(png(),)).json()["task_id"])
        client.get("/v1/tasks/nothing-here", headers=auth("alice"))
        text = client.get("/metrics").text
        assert 'mmr_tasks_total{status="answered"} 1.0' in text
        assert 'mmr_expert_calls_total{expert="crop"} 1.0' in text
        assert 'mmr_requests_refused_total{status="404"} 1.0' in text
        experts = {e["name"]: e for e in client.get("/v1/experts", headers=auth("alice")).json()["experts"]}
        assert {"crop", "ocr", "sleepy"} <= set(experts)
        assert "box" in experts["crop"]["arguments"]["properties"]
        assert experts["crop"]["replicas"]["running"] >= 1 and experts["crop"]["status"] == "HEALTHY"
        assert client.get("/readyz").json()["status"] == "ready"


def _remote(http: TestClient, who: str = "alice") -> Client:
    """The remote Client, talking to the in-process app through the TestClient."""
    client = Client("http://testserver", api_key=KEYS[who])
    client._http.close()
    http.headers.update(auth(who))
    client._http = http
    return client


def test_the_remote_client_approves_denies_and_cancels(orch):
    orch.config.approval_required = ["crop"]
    try:
        with service(orch) as http:
            client = _remote(http)
            pending = client.run("crop the corner", images=[png()], session="client-approve")
            assert pending.status == "pending" and pending.approval[0]["tool"] == "crop"
            done = client.approve("client-approve", reason="fine")
            assert done.status == "answered" and done.artifacts["image-2"].load().shape == (10, 20, 3)
            assert [t["status"] for t in client.session_tasks("client-approve")] == ["answered"]
            assert client.run("crop it", images=[png()], session="client-deny").status == "pending"
            denied = client.deny("client-deny", reason="not now")
            assert denied.status == "answered" and "image-2" not in denied.artifacts
            with pytest.raises(InputError, match="no run waiting for approval"):
                client.approve("client-deny")
    finally:
        orch.config.approval_required = []
    with service(orch, replies=SLEEPY) as http:
        client = _remote(http)
        events = client.stream("wait", session="client-cancel")
        assert next(events).type == "start"
        assert client.cancel("client-cancel") is True
        assert next(e for e in events if e.type == "end").result.status == "cancelled"
        assert client.cancel("client-cancel") is False
