"""Safe by default: the embedded Ray listens on loopback, keys stay out of workers, auth is never changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import RayConfig
from orchestrator.serving import runtime as runtime_module
from orchestrator.serving.embedded import without_env
from orchestrator.serving.runtime import ExpertRuntime

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-probe-0123456789abcdefghij"
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("safe")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    env |= {
        "PYTHONPATH": str(REPO),
        "HOME": str(root / "home"),  # Ray keeps an auth token of a new local cluster there
        "MM_REACTOR_LLM_API_KEY": KEY,
        "OPENAI_API_KEY": KEY,
    }
    (root / "home").mkdir()
    for _ in range(2):  # Ray gives a node 30 s to start: a busy machine may need a second try
        done = subprocess.run(
            [sys.executable, "-m", "tests.support.safe_defaults_probe", str(root / "data")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if "timed out during startup" not in done.stderr:
            break
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.ray
def test_every_socket_of_the_embedded_ray_is_on_loopback(probe):
    sockets = probe["sockets"]
    processes = " ".join(s["process"] for s in sockets)
    print(json.dumps(sockets, indent=1))
    assert len(sockets) >= 6 and "gcs_server" in processes and "raylet" in processes, sockets
    assert "ServeReplica" in processes and "ServeController" in processes, sockets
    assert [s for s in sockets if s["ip"] not in LOOPBACK] == []


@pytest.mark.ray
def test_expert_replicas_never_see_the_controller_key(probe):
    assert probe["replica"] == {"names": [], "found": False}, probe["replica"]
    assert probe["driver_kept_env"] and probe["key_resolved"]  # the orchestrator itself still has it
    assert not probe["config_dump_has_key"]


@pytest.mark.ray
def test_the_sdk_leaves_the_auth_mode_to_ray(probe):
    assert probe["auth_mode"] != "disabled"  # unset by the caller: Ray's own default applies


def test_joining_a_cluster_changes_nothing_of_its_auth(monkeypatch):
    calls = []
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setattr(runtime_module.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(runtime_module.ray, "init", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(runtime_module.serve, "start", lambda **kwargs: None)
    ExpertRuntime(RayConfig(address="ray://head:10001")).start()
    assert calls and calls[0]["address"] == "ray://head:10001"
    assert "RAY_AUTH_MODE" not in os.environ
    assert not {"_node_ip_address", "runtime_env"} & set(calls[0])


def test_secret_variables_are_out_of_the_environment_only_while_ray_starts(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with without_env(("OPENAI_API_KEY",)):
        assert "OPENAI_API_KEY" not in os.environ
    assert os.environ["OPENAI_API_KEY"] == KEY
