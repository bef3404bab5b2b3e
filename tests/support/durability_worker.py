"""One orchestrator process for the durability tests, driven over stdin/stdout with JSON lines.

    python -m tests.support.durability_worker --data-dir D --artifacts A [--postgres-url URL]
        [--marker-dir M]

It starts its own embedded Ray (``Orchestrator.local``) with the ``invert`` test expert and
``slow_step`` (below), prints ``ready``, then serves one command per stdin line and answers each
with one ``result`` line (or ``error``). Output lines start with ``@@ `` so Ray's own output cannot
be taken for ours. Commands (``op``):

- ``run``: ``{"session", "task", "script": [controller replies], "image_seed": int | null}``
- ``plan``: ``{"session", "task", "plan": [steps]}`` -- ``Orchestrator.run_plan`` (no controller)
- ``resume``: ``{"session", "script"}`` -- ``Orchestrator.resume`` of an interrupted run
- ``pending``: ``{"session"}`` -- ``Orchestrator.pending_run``
- ``quit``

Every controller call prints an ``llm`` line first and a ``run`` prints an ``event`` line per
event of ``Orchestrator.stream``; ``time`` fields are ``time.time()`` of the worker.
:class:`WorkerProcess` is the other end: it starts a worker, talks to it and kills it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from experts.base import Expert

__all__ = ["PREFIX", "SlowStep", "WorkerFailed", "WorkerProcess", "input_image", "main"]

PREFIX = "@@ "
REPO = Path(__file__).resolve().parents[2]


class SlowStep(Expert):
    """A call that takes a while: it leaves ``call-*`` in ``marker_dir`` when it starts (so a test can
    kill the process mid-call) and ends early once ``marker_dir/release`` exists (so a resumed run
    that repeats the call does not wait)."""

    name = "slow_step"
    description = "Waits for the given number of seconds, then returns the seconds waited."

    class Input(BaseModel):
        seconds: float = Field(ge=0, le=120, description="how long to wait")

    class Output(BaseModel):
        waited: float

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        marker_dir: str | None = Field(default=None, description="where calls leave their markers")

    def run(self, inputs: Input) -> Output:
        started = time.monotonic()
        markers = Path(self.settings.marker_dir) if self.settings.marker_dir else None
        if markers is not None:
            (markers / f"call-{time.time_ns()}").touch()
        while time.monotonic() - started < inputs.seconds:
            if markers is not None and (markers / "release").exists():
                break
            time.sleep(0.02)
        return self.Output(waited=round(time.monotonic() - started, 3))


def input_image(seed: int) -> np.ndarray:
    """The input image of a test turn: random, reproducible from its seed in any process."""
    return np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)


# -- the worker process ---------------------------------------------------------------------------------


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout, flushed at once (the test may kill us right after)."""
    sys.stdout.write(PREFIX + json.dumps({"event": event, "time": time.time(), **fields}, default=str) + "\n")
    sys.stdout.flush()


def _config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "data_dir": args.data_dir,
        "checkpointer": "postgres" if args.postgres_url else "sqlite",
        "postgres_url": args.postgres_url,
        "artifact_store": args.artifacts,
        "max_steps": 6,
        "approval_required": ["canny"],  # calls to canny wait for a person (any worker may approve)
        "ray": {"app_prefix": "durable-"},
        "experts": {
            "invert": {"class": "tests.support.experts:Invert"},
            "canny": {},
            "slow_step": {
                "class": "tests.support.durability_worker:SlowStep",
                "timeout_s": 200,
                "options": {"marker_dir": args.marker_dir},
            },
        },
    }


def _controller(script: list[str]) -> Any:
    from llm.scripted import ScriptedChatModel

    def reply(index: int, text: str) -> Any:
        def entry(messages: list[Any]) -> str:
            emit("llm", call=index)
            return text

        return entry

    return ScriptedChatModel([reply(i, text) for i, text in enumerate(script)])


def _describe(result: Any, controller: Any) -> dict[str, Any]:
    return {
        "status": result.status,
        "run_id": result.run_id,
        "task": result.task,
        "answer": result.answer,
        "failure": result.failure,
        "steps": [
            {"tool": s.tool, "error": s.error, "new_handles": s.new_handles, "observation": s.observation}
            for s in result.steps
        ],
        "artifacts": {
            handle: {
                "id": a.id,
                "kind": a.kind,
                "producer": a.producer,
                "parents": a.parents,
                "uri": f"{a.path.parent.name}/{a.path.name}",
            }
            for handle, a in result.artifacts.items()
        },
        "interrupted_runs": list(getattr(result, "interrupted_runs", [])),
        "seen": [[m["content"] for m in messages] for messages in controller.seen],
    }


def serve_commands(orch: Any) -> None:
    """Answer the commands on stdin until ``quit`` or end of input."""
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command["op"]
        if op == "quit":
            return
        try:
            if op == "pending":
                emit("result", op=op, value=orch.pending_run(command["session"]))
                continue
            controller = _controller(command.get("script", []))
            if op == "run":
                seed = command.get("image_seed")
                images = None if seed is None else [input_image(seed)]
                result = None
                for event in orch.stream(
                    command["task"], images=images, session=command["session"], chat_model=controller
                ):
                    emit("event", type=event.type)
                    if event.type == "end":
                        result = event.result
            elif op == "plan":
                result = orch.run_plan(command["plan"], session=command["session"], task=command["task"])
            elif op == "resume":
                result = orch.resume(command["session"], chat_model=controller)
            elif op == "approve":
                result = orch.approve(command["session"], chat_model=controller)
            else:
                raise ValueError(f"unknown op {op!r}")
            emit("result", op=op, **_describe(result, controller))
        except Exception as err:
            emit("error", op=op, type=type(err).__name__, message=str(err), trace=traceback.format_exc())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="an orchestrator process driven over stdin/stdout")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--artifacts", required=True, help="the artifact store shared by all workers")
    parser.add_argument("--postgres-url", default=None, help="use PostgreSQL (else SQLite in --data-dir)")
    parser.add_argument("--marker-dir", default=None, help="slow_step's markers (see SlowStep)")
    args = parser.parse_args(argv)
    emit("main")
    from orchestrator import Orchestrator

    with Orchestrator.local(_config(args)) as orch:
        emit("ready")
        serve_commands(orch)


# -- the other end: start a worker, talk to it, kill it ---------------------------------------------------


class WorkerFailed(AssertionError):
    """The worker died, stalled or answered a command with an error (its stderr tail included)."""


class WorkerProcess:
    """A worker in its own process session, so it and every process it starts can be killed at once."""

    def __init__(self, name: str, root: Path, *, data_dir: Path, **options: Any) -> None:
        self.name = name
        self.log = root / f"{name}.log"
        env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
        env["RAY_TMPDIR"] = str(root / f"ray-{name}")  # private: never joins another Ray on the machine
        for var in ("RAY_ADDRESS", "MM_REACTOR_POSTGRES_URL", "MM_REACTOR_LLM_BASE_URL"):
            env.pop(var, None)
        command = [sys.executable, "-m", "tests.support.durability_worker", "--data-dir", str(data_dir)]
        for key, value in options.items():
            if value is not None:
                command += [f"--{key.replace('_', '-')}", str(value)]
        self.spawned_at = time.time()
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(PREFIX):
                self.events.put(json.loads(line[len(PREFIX) :]))
        self.events.put(None)

    def _fail(self, what: str) -> WorkerFailed:
        tail = self.log.read_text()[-3000:] if self.log.exists() else ""
        return WorkerFailed(f"worker {self.name}: {what}\n--- its stderr (tail) ---\n{tail}")

    def wait_for(self, event: str, timeout: float = 120, seen: list | None = None) -> dict[str, Any]:
        """The next ``event`` line (earlier lines go to ``seen``); raises if the worker dies or stalls."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._fail(f"no '{event}' within {timeout:.0f} s") from None
            if item is None:
                raise self._fail(f"exited ({self.process.wait()}) before '{event}'")
            if item["event"] == "error":
                raise self._fail(f"{item['type']}: {item['message']}\n{item['trace']}")
            if item["event"] == event:
                return item
            if seen is not None:
                seen.append(item)

    def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def call(self, timeout: float = 120, **command: Any) -> dict[str, Any]:
        """Send a command; its ``result`` line, with the lines printed before it under ``before``."""
        self.send(**command)
        before: list[dict[str, Any]] = []
        result = self.wait_for("result", timeout, before)
        return {**result, "before": before}

    def kill(self) -> None:
        """SIGKILL the worker and every process in its session (Ray's daemons, expert replicas)."""
        if self.process.returncode is not None:  # already reaped: its pid may belong to another process now
            return
        for pid in _session_members(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def _session_members(sid: int) -> list[int]:
    """The processes of session ``sid``, its leader first (the worker leads it: all are ours)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the name: state, ppid, pgrp, session, ...
        if int(fields[3]) == sid:
            members.append(int(entry.name))
    return sorted(members, key=lambda pid: pid != sid)


if __name__ == "__main__":
    main()
