"""The service's parts that need no Ray: keys, rate limits, streamed uploads, the task store, replica checks,
and the remote client's import path."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from orchestrator.service.deploy import check_replicas
from orchestrator.service.keys import KEY_FILE, KeyRing, hash_key, local_key
from orchestrator.service.limits import ApiError, RateLimiter
from orchestrator.service.taskstore import open_task_store
from orchestrator.service.uploads import UploadLimits, read_task_form

REPO = Path(__file__).resolve().parents[1]
LIMITS = UploadLimits(
    max_body_bytes=1 << 20, max_image_bytes=1 << 19, max_image_pixels=200 * 200, max_images=2
)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(fields: dict[str, str], images: list[bytes] = (), name: str = "images") -> tuple[str, bytes]:
    files = [(k, (None, v)) for k, v in fields.items()]
    files += [(name, (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
    request = httpx.Request("POST", "http://service/v1/tasks", files=files)
    return request.headers["content-type"], request.read()


async def _chunks(body: bytes, size: int = 64, consumed: list[int] | None = None):
    for start in range(0, len(body), size):
        if consumed is not None:
            consumed.append(start + size)
        yield body[start : start + size]


def parse(body: tuple[str, bytes], limits: UploadLimits = LIMITS, consumed: list[int] | None = None):
    content_type, data = body
    return asyncio.run(read_task_form(content_type, None, _chunks(data, consumed=consumed), limits))


# -- keys -----------------------------------------------------------------------------------------------
def test_keys_are_kept_hashed_and_map_to_an_owner():
    ring = KeyRing.from_sources([hash_key("from-config")], env="one, two")
    assert len(ring.hashes) == 3 and all(h.startswith("sha256:") for h in ring.hashes)
    assert "one" not in "".join(ring.hashes)
    owners = {ring.owner(k) for k in ("from-config", "one", "two")}
    assert None not in owners and len(owners) == 3  # one owner id per key
    assert ring.owner("three") is None and ring.owner("") is None and ring.owner(None) is None
    assert KeyRing.from_sources([], env="").hashes == []
    with pytest.raises(ConfigError, match="malformed"):
        KeyRing(["sha256:short"])


def test_local_key_is_made_once_with_mode_0600(tmp_path):
    key, created = local_key(tmp_path)
    path = tmp_path / KEY_FILE
    assert created and len(key) > 40 and path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_key(tmp_path) == (key, False)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        local_key(tmp_path)


def test_rate_limit_answers_429_with_retry_after():
    limiter = RateLimiter(per_minute=60)  # burst of 10, then one a second
    for _ in range(10):
        limiter.check("a")
    with pytest.raises(ApiError) as refused:
        limiter.check("a")
    assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) >= 1
    limiter.check("b")  # another key has its own bucket


# -- uploads --------------------------------------------------------------------------------------------
def test_upload_keeps_fields_and_image_bytes():
    image = png(120, 80)
    form = parse(multipart({"task": "read it", "session": "s-1", "max_steps": "3"}, [image, image]))
    assert form.fields == {"task": "read it", "session": "s-1", "max_steps": "3"}
    assert form.images == [image, image]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (multipart({"task": "x"}, [png(300, 300)]), 413, "pixel limit"),
        (multipart({"task": "x"}, [png(10, 10)] * 3), 413, "at most 2"),
        (multipart({"task": "x"}, [b"\x89PNG not really"]), 415, "not an image"),
        (multipart({"task": "x", "images": "/etc/passwd"}), 400, "cannot name a file"),
        (multipart({"task": "x", "path": "/etc/passwd"}), 400, "unknown form field"),
        (multipart({"task": "x"}, [png(10, 10)], name="text-1"), 400, "is a text field"),
        (("application/json", b'{"task": "x"}'), 415, "multipart/form-data"),
    ],
)
def test_upload_refusals(body, status, message):
    with pytest.raises(ApiError) as refused:
        parse(body)
    assert refused.value.status == status and message in refused.value.message


def test_pixel_cap_holds_before_the_image_has_arrived():
    """A huge image is refused from its header: the rest of the upload is never read."""
    big = png(4000, 3000)  # 12 Mpx, far over the cap; its PNG is tens of kilobytes
    body = multipart({"task": "x"}, [big])
    consumed: list[int] = []
    with pytest.raises(ApiError, match="pixel limit"):
        parse(body, consumed=consumed)
    assert max(consumed) < len(body[1]) // 4


def test_body_and_image_byte_caps_hold_while_streaming():
    noisy = Image.frombytes("RGB", (180, 180), os.urandom(180 * 180 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    small = UploadLimits(max_body_bytes=1 << 20, max_image_bytes=20_000, max_image_pixels=10**6, max_images=2)
    consumed: list[int] = []
    with pytest.raises(ApiError, match="20000-byte limit"):
        parse(multipart({"task": "x"}, [buffer.getvalue()]), small, consumed)
    assert max(consumed) < 20_000 + 1024
    tiny_body = UploadLimits(max_body_bytes=2000, max_image_bytes=10**6, max_image_pixels=10**6, max_images=2)
    with pytest.raises(ApiError, match="2000-byte limit"):
        parse(multipart({"task": "x"}, [buffer.getvalue()]), tiny_body)


# -- the task store -------------------------------------------------------------------------------------
def test_task_store_keeps_owners_events_and_artifact_grants(tmp_path):
    store = open_task_store(load_config({"data_dir": str(tmp_path), "experts": {}}))
    assert store.claim_session("s1", "alice") and not store.claim_session("s1", "bob")
    assert store.session_owner("s1") == "alice"
    store.create_task("t1", "alice", "s1", "task", "read it", "replica-a")
    assert store.count_active(owner="alice") == 1 and store.count_active(session="s1") == 1
    for seq, kind in enumerate(["start", "thought", "end"], start=1):
        store.add_event("t1", seq, kind, f'{{"type": "{kind}"}}')
    assert [e[:2] for e in store.events("t1", after=1)] == [(2, "thought"), (3, "end")]
    store.finish("t1", "answered", {"answer": "ok"})
    assert store.task("t1")["result"] == {"answer": "ok"} and store.count_active(owner="alice") == 0
    store.grant_artifacts("s1", [("ab" * 32, "image", "ab/abab.png")])
    assert store.artifact_for("ab" * 32, "alice") == ("image", "ab/abab.png")
    assert store.artifact_for("ab" * 32, "bob") is None
    assert [s["session"] for s in store.sessions("alice")] == ["s1"] and store.sessions("bob") == []
    store.close()
    again = open_task_store(load_config({"data_dir": str(tmp_path), "experts": {}}))  # kept on disk
    assert again.session_owner("s1") == "alice"
    again.close()


# -- replicas -------------------------------------------------------------------------------------------
def test_several_ingress_replicas_need_postgres_and_a_shared_store(tmp_path):
    two = {"data_dir": str(tmp_path), "service": {"num_replicas": 2}, "experts": {}}
    with pytest.raises(ConfigError, match="checkpointer: postgres"):
        check_replicas(load_config(two), local=True)
    scaled = two | {"service": {"autoscaling_config": {"min_replicas": 1, "max_replicas": 3}}}
    with pytest.raises(ConfigError, match="up to 3 ingress replicas"):
        check_replicas(load_config(scaled), local=True)
    postgres = two | {"checkpointer": "postgres"}
    check_replicas(load_config(postgres), local=True)  # one machine: data_dir is shared by every replica
    with pytest.raises(ConfigError, match="artifact_store"):
        check_replicas(load_config(postgres), local=False)
    check_replicas(load_config(postgres | {"artifact_store": "s3://bucket/mmr"}), local=False)
    check_replicas(load_config({"data_dir": str(tmp_path), "experts": {}}), local=False)  # one replica


def test_the_client_path_never_imports_ray():
    code = (
        "import sys\n"
        "from orchestrator import Client, Result\n"
        "import orchestrator.cli.main, orchestrator.cli.commands\n"
        "client = Client('http://127.0.0.1:9', api_key='k')\n"
        "client.close()\n"
        "heavy = [m for m in ('ray', 'langgraph', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
