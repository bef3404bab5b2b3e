"""The expert contract, the Serve deployment builder and the replica envelope, on the shared Ray."""

from __future__ import annotations

import numpy as np
import pytest
import ray
from pydantic import BaseModel
from ray import serve

from experts.base import Expert, ExpertDefinitionError, ImageRef
from experts.deployment import WireRef, build_expert_app
from experts.registry import load_expert_class
from orchestrator.agent.context import PixelCache
from orchestrator.cli.main import main
from orchestrator.storage.artifacts import ArtifactStore


def test_contract_is_checked_when_the_class_is_defined():
    with pytest.raises(ExpertDefinitionError, match="'name' must be a lowercase identifier"):

        class BadName(Expert):
            name = "Bad Name"
            description = "does something useful"

            class Input(BaseModel):
                x: int

            class Output(BaseModel):
                y: int

            def run(self, inputs):
                return self.Output(y=1)

    with pytest.raises(ExpertDefinitionError, match="'Output' must be a pydantic BaseModel"):

        class NoOutput(Expert):
            name = "no_output"
            description = "does something useful"

            class Input(BaseModel):
                x: int

            Output = dict

            def run(self, inputs):
                return {}

    with pytest.raises(ExpertDefinitionError, match="define run"):

        class NoRun(Expert):
            name = "no_run"
            description = "does something useful"

            class Input(BaseModel):
                image: ImageRef

            class Output(BaseModel):
                y: int


def test_bad_options_fail_before_deploying():
    with pytest.raises(ValueError, match="invalid options for expert 'ocr'"):
        build_expert_app(load_expert_class("ocr"), deployment_name="ocr", settings={"limit_sidelen": 3})


@pytest.mark.ray
def test_deployments_follow_the_config(orch):
    status = serve.status().applications
    assert status["test-sleepy"].deployments["sleepy"].replica_states.get("RUNNING") == 2
    assert status["test-ocr"].deployments["ocr"].replica_states.get("RUNNING") == 1


@pytest.mark.ray
def test_replica_envelope(orch):
    handle = orch.runtime.catalogue.get("crop").handle
    pixels = ray.put(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    ok = handle.remote({"image": WireRef("image-1", "image", pixels), "box": [1, 1, 3, 3]}).result(
        timeout_s=30
    )
    assert ok["ok"] and ok["replica"].startswith("crop#")
    assert ok["output"]["image"].array.shape == (2, 2, 3)
    bad = handle.remote({"image": WireRef("image-1", "image", pixels)}).result(timeout_s=30)
    assert not bad["ok"] and bad["error_type"] == "arguments" and "box" in bad["error"]
    broken = orch.runtime.catalogue.get("broken").handle
    crash = broken.remote({"image": WireRef("image-7", "image", pixels)}).result(timeout_s=30)
    assert (
        crash["error_type"] == "crash" and "image-7" in crash["error"] and "Traceback" in crash["traceback"]
    )


@pytest.mark.ray
def test_pixels_are_put_once_per_artifact(ray_session, tmp_path):
    store = ArtifactStore(tmp_path)
    pixels = np.zeros((8, 8, 3), np.uint8)
    artifact_id, shape, uri = store.put("image", pixels)
    record = {
        "handle": "image-1",
        "id": artifact_id,
        "kind": "image",
        "shape": shape,
        "producer_step": 0,
        "producer": "input",
        "parents": [],
        "uri": uri,
    }
    cache = PixelCache(store)
    first = cache.ref(record)
    assert cache.ref(dict(record, handle="image-2")) is first
    assert cache.puts == 1 and np.array_equal(ray.get(first), pixels)


@pytest.mark.ray
def test_reactor_demo_command(ray_session, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MM_REACTOR_DATA", str(tmp_path / "data"))
    assert main(["demo", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "REPLAY" in out and "answer: The sign reads" in out
    assert (tmp_path / "out" / "image-2.png").exists() and (tmp_path / "out" / "image-3.png").exists()


def test_reactor_run_without_llm_says_what_to_set(capsys):
    assert main(["run", "read this", "--image", "x.png"]) == 2
    assert "MM_REACTOR_LLM_BASE_URL" in capsys.readouterr().err
