"""Faults heal or end clearly, on the shared Ray: killed replicas, hung calls, broken setups, resources."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray
from ray import serve

from llm.scripted import ScriptedChatModel
from orchestrator import DeploymentError, Result
from tests.experts.harness import call_tool, deployed, observation
from tests.support.experts import (
    FailingSetup,
    HangingSetup,
    Invert,
    Marked,
    MarkedOnce,
    SerialSleepy,
    Sleepy,
)

pytestmark = pytest.mark.ray

PROCESS_DETAILS = re.compile(r"pid=|actor_id|ip=|[0-9a-f]{32}|\b\d+\.\d+\.\d+\.\d+\b")


def _one_turn(orch, tool: str, calls: list[dict[str, Any]], session: str | None = None) -> Result:
    turn = "Thought: go\n" + "\n".join(f"Action: {tool}\nAction Input: {json.dumps(a)}" for a in calls)
    script = ScriptedChatModel([turn, "Thought: done\nFinal Answer: done"])
    return orch.run(f"test {tool}", chat_model=script, session=session)


def _wait_for_mark(marks: Path, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = sorted(marks.glob("*.json"))
        if found:
            return json.loads(found[0].read_text())
        time.sleep(0.02)
    raise AssertionError("no replica started the call")


def _kill(mark: dict[str, Any], how: str) -> None:
    if how == "sigkill":
        os.kill(mark["pid"], signal.SIGKILL)
    else:
        ray.kill(ray.get_actor(mark["actor"], namespace="serve"), no_restart=False)


@pytest.mark.parametrize("how", ["sigkill", "ray.kill"])
def test_an_idempotent_call_whose_replica_dies_is_sent_again_to_a_live_replica(orch, tmp_path, how):
    with deployed(orch, Marked, num_replicas=2, num_cpus=0.05, timeout_s=60):
        done: dict[str, Any] = {}
        run = threading.Thread(
            target=lambda: done.update(
                result=_one_turn(orch, "marked", [{"seconds": 2, "marks": str(tmp_path)}])
            )
        )
        run.start()
        mark = _wait_for_mark(tmp_path)
        _kill(mark, how)
        killed = time.monotonic()
        run.join(timeout=120)
        answered = time.monotonic()
        result: Result = done["result"]
        (step,) = [s for s in result.steps if s.tool]
        assert step.error is None, step.error
        assert step.attempts == 2
        assert observation(result)["output"]["pid"] != mark["pid"]  # the live replica answered
        print(f"\n{how}: killed -> answered in {answered - killed:.2f} s (the call itself takes 2 s)")


def test_a_call_that_is_not_idempotent_is_not_sent_again_and_says_so(orch, tmp_path):
    with deployed(orch, MarkedOnce, num_replicas=2, num_cpus=0.05, timeout_s=60):
        done: dict[str, Any] = {}
        run = threading.Thread(
            target=lambda: done.update(
                result=_one_turn(orch, "marked_once", [{"seconds": 5, "marks": str(tmp_path)}])
            )
        )
        run.start()
        _kill(_wait_for_mark(tmp_path), "sigkill")
        run.join(timeout=120)
        (step,) = [s for s in done["result"].steps if s.tool]
        assert step.attempts == 1 and step.error_type == "resource"
        assert "stopped before it answered (ActorDiedError)" in step.error
        assert "not sent again" in step.error
        # Ray's own words (actor id, pid, node address) are kept for the trace, not the controller
        assert not PROCESS_DETAILS.search(step.observation), step.observation
        assert step.traceback and "ActorDiedError" in step.traceback


def _removed(app: str, timeout_s: float = 60) -> bool:
    """Whether the application is gone (or going) from Serve."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = serve.status().applications.get(app)
        if found is None or str(getattr(found.status, "value", found.status)) == "DELETING":
            return True
        time.sleep(0.25)
    return False


def _replica_ids(app: str, name: str) -> set[str]:
    return {
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith(f"SERVE_REPLICA::{app}#{name}#")
    }


@pytest.mark.parametrize("expert", [Sleepy, SerialSleepy])
def test_a_quick_call_succeeds_after_many_hung_ones_and_the_stuck_replica_is_replaced(orch, expert):
    name = f"{expert.name}_hung"
    app = f"{orch.config.ray.app_prefix}{name}"
    # four slots on one replica: hung calls that kept holding the replica would block everything
    with deployed(orch, expert, name=name, timeout_s=1.0, max_ongoing_requests=4, num_cpus=0.05):
        before = _replica_ids(app, name)
        hung = _one_turn(orch, name, [{"seconds": 30}] * 10)
        steps = [s for s in hung.steps if s.tool]
        assert len(steps) == 10 and all(s.error_type == "timeout" for s in steps), [s.error for s in steps]
        if expert.thread_safe:  # abandoned threads no longer hold the replica
            call_tool(orch, name, {"seconds": 0})
        # work stuck past its time makes the replica unhealthy: Serve replaces it
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (_replica_ids(app, name) - before):
            time.sleep(0.5)
        assert _replica_ids(app, name) - before, "the stuck replica was not replaced"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = serve.status().applications[app].deployments[name]
            if status.replica_states.get("RUNNING") == 1 and len(status.replica_states) == 1:
                break
            time.sleep(0.5)
        call_tool(orch, name, {"seconds": 0})  # the new replica answers at once


def test_a_setup_that_raises_fails_the_deployment_with_its_cause(orch):
    with pytest.raises(DeploymentError) as caught:
        orch.add_expert(FailingSetup, num_cpus=0.05)
    message = str(caught.value)
    assert "setup() of expert 'failing_setup' failed: FileNotFoundError: no weights for model" in message
    assert "'acme/missing-model'" in message and "in _load" in message  # the last frames
    assert not PROCESS_DETAILS.search(message.split("Fix the cause")[0]), message
    assert _removed(f"{orch.config.ray.app_prefix}failing_setup")
    assert "failing_setup" not in orch.experts


def test_a_setup_that_never_returns_is_bounded_by_the_deploy_timeout(orch, monkeypatch):
    monkeypatch.setattr(
        orch.runtime, "config", orch.runtime.config.model_copy(update={"deploy_timeout_s": 5})
    )
    started = time.monotonic()
    with pytest.raises(DeploymentError) as caught:
        orch.add_expert(HangingSetup, num_cpus=0.05)
    assert time.monotonic() - started < 60
    message = str(caught.value)
    assert "not running after 5 s (ray.deploy_timeout_s)" in message
    assert "hanging_setup: starting: 1" in message and "setup() that has not returned" in message
    assert "hanging_setup" not in orch.experts
    assert _removed(f"{orch.config.ray.app_prefix}hanging_setup")


def test_an_unsatisfiable_request_fails_at_once_and_says_what_is_missing(orch):
    if ray.cluster_resources().get("GPU"):
        pytest.skip("this machine has a GPU")
    started = time.monotonic()
    with pytest.raises(DeploymentError) as caught:
        orch.add_expert(Invert, name="invert_gpu", num_replicas=2, num_gpus=0.5)
    assert time.monotonic() - started < 10  # no waiting for Serve at all
    assert "expert 'invert_gpu' asks for 2 replica(s) x (0.1 CPUs + 0.5 GPUs)" in str(caught.value)
    assert "no node has 0.5 GPUs" in str(caught.value)
    assert _removed(f"{orch.config.ray.app_prefix}invert_gpu")


def test_images_made_by_experts_obey_the_pixel_cap(orch, monkeypatch):
    monkeypatch.setattr(orch.config, "max_image_pixels", 10_000)
    image = np.zeros((50, 50, 3), np.uint8)
    call = {"image": "image-1", "width": 200, "height": 100}
    script = ScriptedChatModel(
        [
            f"Thought: bigger\nAction: resize\nAction Input: {json.dumps(call)}",
            "Thought: done\nFinal Answer: done",
        ]
    )
    result = orch.run("make it bigger", images=[image], chat_model=script)
    (step,) = [s for s in result.steps if s.tool]
    assert step.error_type == "input" and step.new_handles == []
    assert step.error == (
        "resize made a 200x100 image (20000 pixels), over the limit of 10000 pixels (max_image_pixels); "
        "ask for a smaller size"
    )
    assert "image-2" not in result.artifacts


def test_ocr_of_a_very_thin_image_says_why_it_cannot_read_it(orch):
    script = ScriptedChatModel(
        [
            'Thought: read\nAction: ocr\nAction Input: {"image": "image-1"}',
            "Thought: done\nFinal Answer: none",
        ]
    )
    result = orch.run("read", images=[np.full((3, 3000, 3), 255, np.uint8)], chat_model=script)
    (step,) = [s for s in result.steps if s.tool]
    assert step.error_type == "input"
    assert step.error.startswith("image-1 is 3000x3 pixels, too thin for OCR")
