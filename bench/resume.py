"""Restart cost: a fresh orchestrator process picks up a session another process left mid-call.

Run: ``python bench/resume.py [--rounds 3] [--postgres | --postgres-url URL]``. Each round starts
a fresh worker process (``tests/support/durability_worker.py``: embedded Ray, ``invert`` and
``slow_step``) on the same checkpoint store and artifact directory; it resumes the run the previous
worker was SIGKILLed in (an expert call in flight), then leaves a run of its own mid-call for the
next one. Printed
(median [min-max] over rounds):

- spawn -> imports:         interpreter start and the worker's imports
- imports -> ready:         ``Orchestrator.local``: embedded Ray, Serve, two expert deployments
- ready -> resumed step:    ``pending_run`` + ``resume``: read the checkpoint, repeat the interrupted
                            call, checkpoint it, reach the controller (its first call)
- ready -> resumed result:  the resumed run's answer
- spawn -> resumed step:    the whole restart, as a client waiting on the session sees it

and, side by side in the same (now warm) process, alternating, the first step of a turn that
continues a stored session (a few runs long) vs. one that starts a new session.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.durability_worker import WorkerProcess

INVERT = 'Thought: invert it\nAction: invert\nAction Input: {{"image": "{}"}}'
SLOW = 'Thought: a long call\nAction: slow_step\nAction Input: {"seconds": 120}'
ANSWER = "Thought: finished\nFinal Answer: done"


def first_step_s(worker: WorkerProcess, **command: object) -> tuple[float, float]:
    """Seconds from sending a run to its first finished tool call, and to its result."""
    sent = time.time()
    result = worker.call(op="run", **command)
    tool_end = next(e for e in result["before"] if e["event"] == "event" and e["type"] == "tool_end")
    return tool_end["time"] - sent, result["time"] - sent


def leave_mid_call(worker: WorkerProcess, markers: Path, session: str, seed: int) -> None:
    """Run one turn on ``session``, start a slow call in a second turn, and SIGKILL the worker in it."""
    (markers / "release").unlink(missing_ok=True)
    calls = len(list(markers.glob("call-*")))
    worker.call(
        op="run", session=session, task="invert", image_seed=seed, script=[INVERT.format("image-1"), ANSWER]
    )
    worker.send(op="run", session=session, task="a long call", script=[SLOW, ANSWER])
    deadline = time.monotonic() + 60
    while len(list(markers.glob("call-*"))) == calls:
        if time.monotonic() > deadline:
            raise RuntimeError("the slow call never started")
        time.sleep(0.02)
    worker.kill()
    (markers / "release").touch()  # the resumed call returns at once


def summary(values: list[float], unit: str = "s") -> str:
    scale, digits = (1000, 0) if unit == "ms" else (1, 2)
    low, mid, high = (v * scale for v in (min(values), statistics.median(values), max(values)))
    return f"{mid:8.{digits}f} {unit}  [{low:.{digits}f}-{high:.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=5, help="warm turns of each kind per round")
    parser.add_argument("--postgres-url", default=None, help="checkpoint in PostgreSQL (default: SQLite)")
    parser.add_argument("--postgres", action="store_true", help="start a private PostgreSQL server for it")
    args = parser.parse_args()
    server = None
    if args.postgres and not args.postgres_url:
        from tests.support.postgres import PostgresServer, find_postgres_bin

        bin_dir = find_postgres_bin()
        if bin_dir is None:
            raise SystemExit("--postgres needs the PostgreSQL server binaries (apt-get install postgresql)")
        server = PostgresServer(bin_dir, database="mmr_bench")
        server.start()
        args.postgres_url = server.url

    root = Path(tempfile.mkdtemp(prefix="mmr-resume-", dir="/tmp"))
    data, artifacts, markers = root / "data", root / "artifacts", root / "markers"
    markers.mkdir()
    rows: dict[str, list[float]] = {k: [] for k in ("imports", "ready", "step", "result", "total")}
    continued, fresh = [], []
    previous: str | None = None
    try:
        for i in range(args.rounds + 1):
            worker = WorkerProcess(
                f"w{i}",
                root,
                data_dir=data,
                artifacts=artifacts,
                marker_dir=markers,
                postgres_url=args.postgres_url,
            )
            try:
                imported = worker.wait_for("main", 180)
                ready = worker.wait_for("ready", 300)
                if previous is not None:
                    pending = worker.call(op="pending", session=previous)["value"]
                    assert pending and pending["next"] == ["act"], pending
                    resumed = worker.call(
                        op="resume", session=previous, script=[INVERT.format("image-2"), ANSWER]
                    )
                    assert resumed["status"] == "answered", resumed["failure"]
                    llm = next(e for e in resumed["before"] if e["event"] == "llm")
                    rows["imports"].append(imported["time"] - worker.spawned_at)
                    rows["ready"].append(ready["time"] - imported["time"])
                    rows["step"].append(llm["time"] - ready["time"])
                    rows["result"].append(resumed["time"] - ready["time"])
                    rows["total"].append(llm["time"] - worker.spawned_at)
                    script = [INVERT.format("image-1"), ANSWER]  # both turns bring one new image
                    for _ in range(args.turns):  # alternating, so drift hits both alike
                        step, _ = first_step_s(
                            worker, session=previous, task="again", image_seed=i, script=script
                        )
                        continued.append(step)
                        new = f"bench-new-{uuid.uuid4().hex[:8]}"
                        step, _ = first_step_s(worker, session=new, task="new", image_seed=i, script=script)
                        fresh.append(step)
                if i < args.rounds:
                    previous = f"bench-{uuid.uuid4().hex[:8]}"
                    leave_mid_call(worker, markers, previous, seed=i)
            finally:
                worker.kill()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if server is not None:
            server.stop()

    backend = "postgres" if args.postgres_url else "sqlite"
    print(f"fresh process resuming a run killed mid-call ({backend}, {args.rounds} rounds, median [min-max])")
    print(f"  spawn -> imports          {summary(rows['imports'])}")
    print(f"  imports -> ready          {summary(rows['ready'])}   (embedded Ray + Serve + 2 deployments)")
    print(f"  ready -> resumed step     {summary(rows['step'], 'ms')}")
    print(f"  ready -> resumed result   {summary(rows['result'], 'ms')}")
    print(f"  spawn -> resumed step     {summary(rows['total'])}")
    ratio = statistics.median(continued) / statistics.median(fresh)
    print("first tool step of a turn, warm process (send -> first tool finished):")
    print(f"  continued session         {summary(continued, 'ms')}")
    print(f"  new session               {summary(fresh, 'ms')}   continued/new = {ratio:.2f}x")


if __name__ == "__main__":
    main()
