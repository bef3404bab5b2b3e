"""The expert contract, the Serve deployment builder and the replica's reply, on the shared Ray."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import ray
from pydantic import BaseModel
from ray import serve

from experts.base import Expert, ExpertDefinitionError, ImageRef
from experts.deployment import build_expert_app
from experts.protocol import PixelRef, Reply, pixel_content_id
from experts.registry import load_expert_class
from orchestrator.agent.pixels import PixelCache
from orchestrator.cli.main import main
from orchestrator.cli.output import show as _show
from orchestrator.events import ThoughtEvent, ToolFinished
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


def _pixels(handle: str, array: np.ndarray) -> PixelRef:
    return PixelRef(handle, "image", pixel_content_id("image", array), ray.put(array))


@pytest.mark.ray
def test_replica_reply(orch):
    handle = orch.runtime.catalogue.get("crop").handle
    array = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    pixels = _pixels("image-1", array)
    ok = handle.remote({"image": pixels, "box": [1, 1, 3, 3]}).result(timeout_s=30)
    assert isinstance(ok, Reply)
    assert ok.ok and ok.replica.startswith("crop#")
    (image,) = ok.artifacts
    assert ray.get(image.ref).shape == (2, 2, 3)
    # The new image stays in the object store; the reply carries its reference and content id.
    assert ok.output["image"] is None and image.path == ("image",) and image.kind == "image"
    assert image.content_id == pixel_content_id("image", array[1:3, 1:3]) and image.shape == [2, 2]
    bad = handle.remote({"image": pixels}).result(timeout_s=30)
    assert not bad.ok and bad.error.kind == "arguments" and "box" in bad.error.message
    broken = orch.runtime.catalogue.get("broken").handle
    crash = broken.remote({"image": _pixels("image-7", array)}).result(timeout_s=30)
    assert (
        crash.error.kind == "expert"
        and "image-7" in crash.error.message
        and "Traceback" in crash.error.traceback
        and "Traceback" not in crash.error.message
    )


@ray.remote
class _Owner:
    """Puts pixels into the object store and can die, taking them with it."""

    def put(self, array: np.ndarray) -> list[ray.ObjectRef]:
        return [ray.put(array)]  # in a list: the caller borrows the ref, this actor owns the object


@pytest.mark.ray
def test_pixels_lost_with_their_owner_are_a_resource_failure(orch):
    array = np.zeros((64, 64, 3), np.uint8)
    owner = _Owner.remote()
    (ref,) = ray.get(owner.put.remote(array))
    ray.kill(owner)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until Ray has noticed that the pixels went with their owner
        try:
            ray.get(ref, timeout=5)
        except ray.exceptions.ObjectLostError:
            break
        time.sleep(0.1)
    pixels = PixelRef("image-2", "image", pixel_content_id("image", array), ref)
    reply = orch.runtime.catalogue.get("crop").handle.remote({"image": pixels, "box": [0, 0, 4, 4]})
    lost = reply.result(timeout_s=60)
    assert lost.error.kind == "resource" and "image-2" in lost.error.message
    assert lost.error.lost == [pixels.content_id]


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


def test_cli_live_output_shows_repairs_and_error_kinds():
    out = io.StringIO()
    _show(ThoughtEvent(turn=1, text="invert it", actions=[], repairs=["normalised label case"]), out)
    failed = ToolFinished(
        tool="broken",
        seconds=0.1,
        replica=None,
        error="broken failed: boom",
        error_type="expert",
        new_handles=[],
        observation="",
    )
    _show(failed, out)
    assert "• invert it (repaired: normalised label case)" in out.getvalue()
    assert "✗ broken [expert]: broken failed: boom" in out.getvalue()
