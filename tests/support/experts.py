"""Experts that exist only to exercise failure paths and concurrency: slow, crashing, timing ones."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from experts.base import Expert, ExpertError, ImageRef, NewImage, NewMask


class Sleepy(Expert):
    name = "sleepy"
    description = "Waits for the given number of seconds, then returns the seconds waited."

    class Input(BaseModel):
        seconds: float = Field(ge=0, le=30, description="how long to wait")

    class Output(BaseModel):
        waited: float

    def run(self, inputs: Input) -> Output:
        time.sleep(inputs.seconds)
        return self.Output(waited=inputs.seconds)


class Span(Expert):
    name = "span"
    description = "Waits for the given number of seconds and reports when it started and ended."

    class Input(BaseModel):
        seconds: float = Field(ge=0, le=5, description="how long to wait")

    class Output(BaseModel):
        started: float = Field(description="time.time() on the replica when the call began to run")
        ended: float = Field(description="time.time() on the replica when it finished")

    def run(self, inputs: Input) -> Output:
        started = time.time()
        time.sleep(inputs.seconds)
        return self.Output(started=started, ended=time.time())


class SerialSpan(Span):
    name = "serial_span"
    description = "The span expert on a replica that runs one call at a time (not thread-safe)."
    thread_safe = False


def overlap(spans: list[dict[str, float]]) -> bool:
    """Whether the replica-side intervals ``{"started", "ended"}`` of the calls were all in flight at once."""
    return max(s["started"] for s in spans) < min(s["ended"] for s in spans)


class Broken(Expert):
    name = "broken"
    description = "Always fails with an internal error (used to test failure handling)."

    class Input(BaseModel):
        image: ImageRef

    class Output(BaseModel):  # what it would give: plans may feed it on (they are checked by kind)
        model_config = ConfigDict(arbitrary_types_allowed=True)
        image: NewImage

    def run(self, inputs: Input) -> Output:
        raise RuntimeError(f"simulated model failure on {inputs.image.handle}")


class Invert(Expert):
    name = "invert"
    description = "Inverts the colours of an image; returns a new image."

    class Input(BaseModel):
        image: ImageRef

    class Output(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        image: NewImage

    def run(self, inputs: Input) -> Output:
        return self.Output(image=NewImage(255 - inputs.image.array))


class Threshold(Expert):
    name = "threshold"
    description = "Marks the pixels brighter than a level as a mask; returns a new mask."

    class Input(BaseModel):
        image: ImageRef
        level: int = Field(ge=0, le=255, description="grey level threshold")

    class Output(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        mask: NewMask

    def run(self, inputs: Input) -> Output:
        return self.Output(mask=NewMask(inputs.image.array.mean(axis=2) > inputs.level, score=1.0))


class BatchProbe(Expert):
    name = "batch_probe"
    description = "Reports how many requests shared its forward pass (tests dynamic batching)."

    class Input(BaseModel):
        value: int = Field(description="any number; a negative one is rejected")

    class Output(BaseModel):
        value: int
        batch_size: int

    def run(self, inputs: Input) -> Output:
        return self.Output(value=inputs.value, batch_size=1)

    def run_batch(self, batch: list[Input]) -> list[Output | ExpertError]:
        time.sleep(0.05)  # one "forward pass" for the whole batch
        return [
            ExpertError(f"value {item.value} is negative; give a number >= 0")
            if item.value < 0
            else self.Output(value=item.value, batch_size=len(batch))
            for item in batch
        ]


class MllmStub(Expert):
    name = "mllm_stub"
    description = "Answers questions about an image (a stand-in for the end-to-end MLLM in tests)."

    class Input(BaseModel):
        image: ImageRef
        mode: str = Field(description="caption, vqa, region or answer")
        question: str | None = Field(default=None, description="the question")

    class Output(BaseModel):
        text: str

    answers_tasks = True

    @classmethod
    def is_task_call(cls, arguments: Mapping[str, Any]) -> bool:
        return arguments.get("mode") == "answer"

    def run(self, inputs: Input) -> Output:
        return self.Output(text=f"a {inputs.image.width}x{inputs.image.height} picture ({inputs.mode})")


class Marked(Expert):
    name = "marked"
    description = "Writes which replica process runs the call into a directory, then waits (fault tests)."

    class Input(BaseModel):
        seconds: float = Field(ge=0, le=30, description="how long to wait")
        marks: str = Field(description="a directory for the marks (tests only)")

    class Output(BaseModel):
        pid: int

    def run(self, inputs: Input) -> Output:
        import json
        import os
        from pathlib import Path

        import ray

        mark = {"pid": os.getpid(), "actor": ray.get_runtime_context().get_actor_name()}
        Path(inputs.marks, f"{os.getpid()}.json").write_text(json.dumps(mark))
        time.sleep(inputs.seconds)
        return self.Output(pid=os.getpid())


class MarkedOnce(Marked):
    name = "marked_once"
    description = "The marked expert, declared not idempotent: a call is never sent twice (fault tests)."
    idempotent = False


class FailingSetup(Expert):
    name = "failing_setup"
    description = "Cannot load its weights: setup() raises (fault tests)."

    class Input(BaseModel):
        x: int = 0

    class Output(BaseModel):
        x: int

    def setup(self) -> None:
        self._load("acme/missing-model")

    def _load(self, model_id: str) -> None:
        raise FileNotFoundError(f"no weights for model '{model_id}' in /models; download them first")

    def run(self, inputs: Input) -> Output:
        return self.Output(x=inputs.x)


class HangingSetup(FailingSetup):
    name = "hanging_setup"
    description = "Its setup() never returns (fault tests)."

    def setup(self) -> None:
        time.sleep(3600)


class SerialSleepy(Sleepy):
    name = "serial_sleepy"
    description = "The sleepy expert on a replica that runs one call at a time (fault tests)."
    thread_safe = False


class EnvProbe(Expert):
    name = "env_probe"
    description = "Reports what its replica's environment holds that looks like a credential (safety tests)."

    class Input(BaseModel):
        needle: str = Field(description="a value to look for in the environment")

    class Output(BaseModel):
        names: list[str]
        found: bool

    def run(self, inputs: Input) -> Output:
        import os

        names = sorted(k for k in os.environ if any(w in k for w in ("KEY", "TOKEN", "POSTGRES")))
        return self.Output(names=names, found=any(inputs.needle in v for v in os.environ.values()))
