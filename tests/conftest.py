"""Shared fixtures: one Ray instance (with Serve) per test session, and one orchestrator on it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The real PostgreSQL server fixture (postgres_url) and the headless Chromium one (browser).
pytest_plugins = ["tests.support.postgres", "tests.support.browser"]

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
# A loaded 2-core machine can take longer than Ray's default to bring a raylet up.
os.environ.setdefault("RAY_raylet_start_wait_time_s", "180")
for _var in ("MM_REACTOR_LLM_BASE_URL", "MM_REACTOR_LLM_MODEL", "MM_REACTOR_LLM_API_KEY", "RAY_ADDRESS"):
    os.environ.pop(_var, None)

# The experts the end-to-end tests deploy: the built-ins plus test-only failure experts.
TEST_EXPERTS = {
    "ocr": {"ray_actor_options": {"num_cpus": 1}, "max_ongoing_requests": 8, "timeout_s": 60},
    "crop": {},
    "resize": {},
    "draw_boxes": {},
    "overlay_mask": {},
    "canny": {},
    "noop": {"max_ongoing_requests": 64},
    "invert": {"class": "tests.support.experts:Invert"},
    "broken": {"class": "tests.support.experts:Broken"},
    "threshold": {"class": "tests.support.experts:Threshold"},
    "sleepy": {"class": "tests.support.experts:Sleepy", "timeout_s": 1.0, "num_replicas": 2},
    "span": {"class": "tests.support.experts:Span"},  # one replica: overlap is the replica's own
    "serial_span": {"class": "tests.support.experts:SerialSpan"},
}


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray + Serve for the whole test session (start-up costs seconds)."""
    import ray
    from ray import serve

    temp_dir = tempfile.mkdtemp(prefix="mmr-ray-", dir="/tmp")
    ray.init(
        address="local",  # never join another cluster running on this machine
        num_cpus=8,
        include_dashboard=False,
        log_to_driver=False,
        namespace="mm-reactor-tests",
        _temp_dir=temp_dir,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}},
    )
    serve.start(http_options={"location": "NoServer"}, logging_config={"log_level": "WARNING"})
    yield
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mmr-data")


@pytest.fixture(scope="session")
def orch(ray_session: None, data_dir: Path):
    """An orchestrator with every test expert deployed on the shared Ray."""
    from orchestrator import Orchestrator

    config = {
        "data_dir": str(data_dir),
        "max_steps": 6,
        "ray": {"app_prefix": "test-"},
        "experts": TEST_EXPERTS,
    }
    with Orchestrator.local(config) as orchestrator:
        yield orchestrator
