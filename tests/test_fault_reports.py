"""Faults end clearly, without Ray: resource checks, setup causes, retry rules, never an empty error."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel
from ray.exceptions import ActorDiedError
from ray.serve.exceptions import BackPressureError

from experts.base import Expert, ExpertError, ImageData, ImageRef
from experts.deployment import ExpertSetupError, _setup_failure, answer, error_text
from orchestrator.config import ExpertDeployment
from orchestrator.errors import DeploymentError
from orchestrator.serving.calls import replica_lost, unreachable
from orchestrator.serving.resources import check_resources, demand_of
from orchestrator.serving.rollout import failure_cause

CPU_NODE = {"CPU": 4.0, "memory": 8 * 2**30, "object_store_memory": 2**30, "node:10.0.0.1": 1.0}
GPU_NODE = {"CPU": 8.0, "GPU": 1.0, "memory": 32 * 2**30, "node:10.0.0.2": 1.0}


def _entry(**fields: Any) -> ExpertDeployment:
    return ExpertDeployment.model_validate(fields)


def test_a_gpu_request_on_a_cluster_without_gpus_fails_at_once_saying_what_is_missing():
    entry = _entry(num_replicas=2, ray_actor_options={"num_cpus": 0.1, "num_gpus": 0.5})
    with pytest.raises(DeploymentError) as caught:
        check_resources({"invert": entry}, autoscaler=False, nodes=[CPU_NODE], available=CPU_NODE)
    message = str(caught.value)
    assert "expert 'invert' asks for 2 replica(s) x (0.1 CPUs + 0.5 GPUs)" in message
    assert "no node has 0.5 GPUs" in message and "num_gpus: 0" in message


def test_fractional_gpus_pack_onto_one_gpu():
    entry = _entry(num_replicas=2, ray_actor_options={"num_cpus": 0.1, "num_gpus": 0.5})
    assert check_resources({"invert": entry}, autoscaler=False, nodes=[GPU_NODE], available=GPU_NODE) == []
    three = _entry(num_replicas=3, ray_actor_options={"num_cpus": 0.1, "num_gpus": 0.5})
    with pytest.raises(DeploymentError, match="the nodes hold 2 such replica"):
        check_resources({"invert": three}, autoscaler=False, nodes=[GPU_NODE], available=GPU_NODE)


def test_custom_resources_and_memory_are_checked_too():
    entry = _entry(ray_actor_options={"num_cpus": 1, "resources": {"gpu_node": 1}, "memory": 2**40})
    with pytest.raises(DeploymentError) as caught:
        check_resources({"detect": entry}, autoscaler=False, nodes=[CPU_NODE, GPU_NODE])
    assert "no node has 1024.0 GiB of memory or 1 'gpu_node'" in str(caught.value)


def test_an_autoscaling_cluster_waits_with_a_progress_line_instead():
    entry = _entry(num_replicas=2, ray_actor_options={"num_cpus": 0.1, "num_gpus": 1})
    lines = check_resources({"invert": entry}, autoscaler=True, nodes=[CPU_NODE], available=CPU_NODE)
    assert any("waiting for 2 GPUs" in line for line in lines), lines
    assert any("waiting for the autoscaler" in line for line in lines), lines


def test_resources_in_use_are_a_waiting_line_not_an_error():
    entry = _entry(ray_actor_options={"num_cpus": 3})
    lines = check_resources({"ocr": entry}, autoscaler=False, nodes=[CPU_NODE], available={"CPU": 1.0})
    assert lines == ["waiting for 2 CPUs (ocr 1 x 3; 1 CPU free now)"]


def test_autoscaling_replicas_count_from_their_minimum():
    entry = _entry(autoscaling_config={"min_replicas": 3, "max_replicas": 8})
    assert demand_of("x", entry).replicas == 3


SERVE_MESSAGE = (
    "The deployment failed to start 3 times in a row. This may be due to a problem with its constructor "
    "or initial health check failing. See controller logs for details. Error:\n"
    "\x1b[36mray::ServeReplica:bad:bad.initialize_and_get_metadata()\x1b[39m (pid=27918, ip=192.0.2.2, "
    "actor_id=08a30d3cec03b4145f8a78f901000000, repr=<ServeReplica object>)\n"
    '  File "/x/replica.py", line 1867, in initialize\n'
    "RuntimeError: Traceback (most recent call last):\n"
    '  File "/x/deployment.py", line 76, in __init__\n'
    "experts.deployment.ExpertSetupError: setup() of expert 'bad' failed: FileNotFoundError: no weights "
    "for model 'foo/bar'\n  File \"/x/bad.py\", line 19, in setup\n    load()"
)


def test_a_setup_failure_is_read_back_from_serve_with_its_cause_and_frames():
    cause = failure_cause(SERVE_MESSAGE)
    assert cause.startswith(
        "setup() of expert 'bad' failed: FileNotFoundError: no weights for model 'foo/bar'"
    )
    assert 'File "/x/bad.py", line 19, in setup' in cause
    assert "pid=" not in cause and "192.0.2.2" not in cause and "actor_id" not in cause


def test_other_deployment_failures_keep_serve_words_without_process_details():
    message = SERVE_MESSAGE.split("RuntimeError:")[0] + "ModuleNotFoundError: No module named 'acme'"
    cause = failure_cause(message)
    assert cause.startswith("The deployment failed to start 3 times in a row.")
    assert cause.endswith("Last error: ModuleNotFoundError: No module named 'acme'")
    assert "pid=" not in cause and "actor_id" not in cause


def test_the_setup_error_carries_type_message_and_last_frames():
    def load_weights() -> None:
        raise FileNotFoundError("no weights for model 'foo/bar' in /models")

    try:
        load_weights()
    except FileNotFoundError as err:
        failure = _setup_failure("detect", err)
    assert isinstance(failure, ExpertSetupError)
    text = str(failure)
    assert text.startswith("setup() of expert 'detect' failed: FileNotFoundError: no weights for model")
    assert "in load_weights" in text and "raise FileNotFoundError" in text


def test_an_exception_without_a_message_still_says_something():
    assert (
        error_text(KeyError())
        == "KeyError: (no message; the traceback in the trace shows where it was raised)"
    )
    assert error_text(ValueError("bad")) == "ValueError: bad"


class _Silent(Expert):
    name = "silent"
    description = "Fails with exceptions that carry no message (tests)."

    class Input(BaseModel):
        image: ImageRef
        refuse: bool = False

    class Output(BaseModel):
        ok: bool

    def run(self, inputs: Input) -> Output:
        if inputs.refuse:
            raise ExpertError("")
        raise type("ResizeImgError", (Exception,), {})()


def _answer(arguments: dict[str, Any]):
    expert = _Silent()

    async def run(inputs: BaseModel) -> BaseModel:
        return expert.run(inputs)  # type: ignore[arg-type]

    image = ImageData("image-1", np.zeros((2, 2, 3), np.uint8))
    return asyncio.run(answer(expert, {"image": image, **arguments}, run, "silent#1"))


def test_an_expert_error_is_never_an_empty_message():
    crash = _answer({})
    assert crash.error is not None and crash.error.kind == "expert"
    assert crash.error.message.startswith("silent failed: ResizeImgError: (no message;")
    refusal = _answer({"refuse": True})
    assert refusal.error is not None and refusal.error.kind == "input"
    assert refusal.error.message == (
        "silent refused these inputs but gave no reason; check them against its description"
    )


def test_a_dead_replica_is_told_without_process_details():
    died = ActorDiedError()
    assert replica_lost(died)
    message = unreachable("ocr", died)
    assert message == "the replica running ocr stopped before it answered (ActorDiedError)"
    assert not replica_lost(BackPressureError(num_queued_requests=9, max_queued_requests=8))


class _Generate(Expert):
    name = "generate"
    description = "Makes an image from a prompt (tests the idempotence rule)."

    class Input(BaseModel):
        prompt: str
        seed: int | None = None

    class Output(BaseModel):
        ok: bool

    def run(self, inputs: Input) -> Output:
        return self.Output(ok=True)


class _Writes(_Generate):
    name = "writes"
    description = "Writes somewhere each time it is called (tests the idempotence rule)."
    idempotent = False


def test_which_calls_may_be_sent_again():
    assert _Silent.is_idempotent_call({"image": "image-1"})
    assert _Generate.is_idempotent_call({"prompt": "a cat", "seed": 7})
    assert not _Generate.is_idempotent_call({"prompt": "a cat"})
    assert not _Writes.is_idempotent_call({"prompt": "a cat", "seed": 7})


def test_every_built_in_expert_says_whether_its_calls_repeat():
    from experts.registry import load_expert_class

    for name in ("crop", "ocr", "resize", "draw_boxes", "overlay_mask", "canny", "noop"):
        assert load_expert_class(name).idempotent is True, name
