"""Restart safety with real processes: sessions outlive killed orchestrators and are shared by replicas.

Each worker (``tests/support/durability_worker.py``) is a separate Python process with its own
embedded Ray, driven over stdin/stdout. SIGKILL stands in for a crash; the artifact store is one
directory every worker shares. Also here: the artifact store on an fsspec URL (fast, no Ray).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.errors import ConfigError
from orchestrator.storage.artifacts import ArtifactStore
from tests.support.durability_worker import WorkerProcess, input_image

START_TIMEOUT_S = 180  # a worker starts Ray and deploys two experts: ~10-20 s on 2 busy cores


def invert(handle: str) -> str:
    return f'Thought: invert it\nAction: invert\nAction Input: {{"image": "{handle}"}}'


def slow(seconds: float) -> str:
    return f'Thought: this takes a while\nAction: slow_step\nAction Input: {{"seconds": {seconds}}}'


def answer(text: str = "done") -> str:
    return f"Thought: finished\nFinal Answer: {text}"


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    """Short private paths (Ray's socket paths must stay under 108 characters)."""
    path = Path(tempfile.mkdtemp(prefix="mmr-dur-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workers(root: Path) -> Iterator[list[WorkerProcess]]:
    """Every worker a test starts; all are killed at the end (they are disposable: quicker than quitting)."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill()


def spawn(workers: list[WorkerProcess], root: Path, name: str, **options: Any) -> WorkerProcess:
    worker = WorkerProcess(name, root, **options)
    workers.append(worker)
    return worker


def handles(result: dict[str, Any]) -> set[str]:
    return set(result["artifacts"])


def assert_answered(result: dict[str, Any]) -> None:
    assert result["status"] == "answered", result["failure"]
    errors = [s["error"] for s in result["steps"] if s["error"]]
    assert not errors, errors


def test_kill_mid_call_then_a_fresh_process_resumes_the_run(workers, root, record_property):
    """SQLite: a process dies while an expert call is in flight; a new process finishes that run."""
    data, artifacts, markers = root / "sqlite-data", root / "shared-artifacts", root / "markers"
    markers.mkdir()
    session = f"mid-{uuid.uuid4().hex[:8]}"
    a = spawn(workers, root, "a", data_dir=data, artifacts=artifacts, marker_dir=markers)
    a.wait_for("ready", START_TIMEOUT_S)
    first = a.call(
        op="run", session=session, task="invert the photo", image_seed=1, script=[invert("image-1"), answer()]
    )
    assert_answered(first)
    # Turn 2 calls an expert that takes 60 s; kill the process once the call is running on a replica.
    a.send(op="run", session=session, task="wait a minute, then invert", script=[slow(60), answer()])
    deadline = time.monotonic() + 60
    while not any(markers.iterdir()):
        assert time.monotonic() < deadline and a.process.poll() is None, "the slow call never started"
        time.sleep(0.05)
    a.kill()
    (markers / "release").touch()  # the repeated call need not wait its minute again

    b = spawn(workers, root, "b", data_dir=data, artifacts=artifacts, marker_dir=markers)
    ready = b.wait_for("ready", START_TIMEOUT_S)
    pending = b.call(op="pending", session=session)["value"]
    assert pending is not None, "the interrupted turn was silently dropped"
    assert pending["task"] == "wait a minute, then invert" and pending["next"] == ["act"]
    resumed = b.call(op="resume", session=session, script=[invert("image-2"), answer("resumed")])
    assert_answered(resumed)
    assert resumed["run_id"] == pending["run_id"] and resumed["answer"] == "resumed"
    assert [s["tool"] for s in resumed["steps"]] == ["slow_step", "invert", None]
    assert resumed["artifacts"]["image-3"]["parents"] == ["image-2"]  # turn 1's output, by handle
    assert "invert the photo" in "\n".join(resumed["seen"][0])  # and turn 1's transcript
    assert b.call(op="pending", session=session)["value"] is None
    # Nothing lost: inverting turn 1's inversion gives the original image back, from the shared store.
    assert np.array_equal(load(artifacts, resumed, "image-3"), input_image(1))

    first_llm = next(e for e in resumed["before"] if e["event"] == "llm")
    record_property("spawn_to_ready_s", round(ready["time"] - b.spawned_at, 2))
    record_property("ready_to_resumed_first_controller_call_s", round(first_llm["time"] - ready["time"], 3))


def test_a_killed_60_step_plan_resumes_in_a_new_process_with_its_own_limits(workers, root):
    """run_plan of 60 chained steps; the process is SIGKILLed while step 10 runs. A new process resumes
    the run with the limits it started with (its recursion limit for 60 waves), not the config's
    max_steps (6: too few graph steps for the 51 steps left), and finishes every step once."""
    data, artifacts, markers = root / "plan-data", root / "shared-artifacts", root / "plan-markers"
    markers.mkdir()
    session = f"plan-{uuid.uuid4().hex[:8]}"
    plan = [
        {
            "id": i,
            "tool": "slow_step",
            "arguments": {"seconds": 120 if i == 10 else 0},  # step 10 waits until it is released
            "dependencies": [i - 1] if i > 1 else [],
        }
        for i in range(1, 61)
    ]
    a = spawn(workers, root, "plan-a", data_dir=data, artifacts=artifacts, marker_dir=markers)
    a.wait_for("ready", START_TIMEOUT_S)
    a.send(op="plan", session=session, task="sixty steps", plan=plan)
    deadline = time.monotonic() + 120
    while len(list(markers.glob("call-*"))) < 10:  # step 10 is running
        assert time.monotonic() < deadline and a.process.poll() is None, "the plan never reached step 10"
        time.sleep(0.05)
    a.kill()
    (markers / "release").touch()  # the repeated step 10 returns at once

    b = spawn(workers, root, "plan-b", data_dir=data, artifacts=artifacts, marker_dir=markers)
    b.wait_for("ready", START_TIMEOUT_S)
    pending = b.call(op="pending", session=session)["value"]
    assert pending is not None and pending["task"] == "sixty steps" and pending["steps"] == 9
    resumed = b.call(op="resume", session=session, timeout=300)
    assert_answered(resumed)
    assert resumed["run_id"] == pending["run_id"]
    assert resumed["answer"].startswith("The plan ran all 60 steps")
    assert [s["tool"] for s in resumed["steps"]] == ["slow_step"] * 60  # each step recorded once
    assert len(list(markers.glob("call-*"))) == 61  # step 10 ran twice: killed, then resumed
    assert b.call(op="pending", session=session)["value"] is None


def test_two_processes_share_a_session_through_postgres(workers, root, postgres_url):
    """Two replicas behind a load balancer: A, B, A serve turns of one session; then A dies right
    after a turn and B carries on with everything."""
    artifacts = root / "shared-artifacts"
    session = f"replicas-{uuid.uuid4().hex[:8]}"
    common = {"artifacts": artifacts, "postgres_url": postgres_url}
    a = spawn(workers, root, "pg-a", data_dir=root / "pg-a", **common)
    b = spawn(workers, root, "pg-b", data_dir=root / "pg-b", **common)
    a.wait_for("ready", START_TIMEOUT_S)
    b.wait_for("ready", START_TIMEOUT_S)

    turn1 = a.call(
        op="run", session=session, task="first: invert", image_seed=7, script=[invert("image-1"), answer()]
    )
    assert_answered(turn1)
    assert handles(turn1) == {"image-1", "image-2"}
    turn2 = b.call(
        op="run",
        session=session,
        task="second: invert back",
        image_seed=8,
        script=[invert("image-2"), answer()],
    )
    assert_answered(turn2)
    assert handles(turn2) == {"image-1", "image-2", "image-3", "image-4"}  # image-3: B's input
    assert turn2["artifacts"]["image-4"]["parents"] == ["image-2"]
    assert np.array_equal(load(artifacts, turn2, "image-4"), input_image(7))  # A's output, read by B
    assert "first: invert" in "\n".join(turn2["seen"][0])
    turn3 = a.call(
        op="run", session=session, task="third: invert B's input", script=[invert("image-3"), answer()]
    )
    assert_answered(turn3)
    assert turn3["artifacts"]["image-5"]["parents"] == ["image-3"]
    context = "\n".join(turn3["seen"][0])
    assert "first: invert" in context and "second: invert back" in context

    # A person in the loop across processes: A's run waits for approval of canny; B approves it.
    edges = 'Thought: edges\nAction: canny\nAction Input: {"image": "image-5"}'
    waiting = a.call(op="run", session=session, task="edges, with approval", script=[edges, answer()])
    assert waiting["status"] == "pending" and "image-6" not in waiting["artifacts"]
    approved = b.call(op="approve", session=session, script=[answer("edges in image-6")])
    assert_answered(approved)
    assert approved["run_id"] == waiting["run_id"]
    assert approved["artifacts"]["image-6"] == {
        **approved["artifacts"]["image-6"],
        "producer": "canny",
        "parents": ["image-5"],
    }

    a.kill()  # right after its turn finished: nothing may be lost
    turn4 = b.call(
        op="run", session=session, task="fourth: invert again", script=[invert("image-5"), answer()]
    )
    assert_answered(turn4)
    assert handles(turn4) == {f"image-{i}" for i in range(1, 8)}
    assert "third: invert B's input" in "\n".join(turn4["seen"][0])
    assert turn4["interrupted_runs"] == []
    assert np.array_equal(
        load(artifacts, turn4, "image-7"), input_image(8)
    )  # B's input, inverted by A, inverted back by B


def load(artifacts: Path, result: dict[str, Any], handle: str) -> Any:
    """Read an artifact a worker reported straight from the shared store (not through any worker)."""
    return ArtifactStore(artifacts).load({"handle": handle, **result["artifacts"][handle]})


# -- the artifact store on an fsspec URL (no Ray, no processes) ------------------------------------------


def test_store_on_a_url_round_trips_and_is_shared(tmp_path):
    root = f"memory://mmr-{uuid.uuid4().hex[:8]}/artifacts"
    writer, reader = ArtifactStore(root), ArtifactStore(root + "/")
    pixels = input_image(3)
    artifact_id, shape, uri = writer.put("image", pixels)
    assert writer.put("image", pixels.copy()) == (artifact_id, shape, uri)  # content-addressed
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
    assert np.array_equal(reader.load(record), pixels)
    assert reader.url_of(record) == f"{root}/{uri}"
    assert not reader.is_local
    with pytest.raises(ValueError, match="not a local directory"):
        reader.path_of(record)
    text_id, _, text_uri = writer.put("text", "shared")
    assert reader.load({**record, "id": text_id, "kind": "text", "uri": text_uri}) == "shared"
    with pytest.raises(FileNotFoundError, match="missing from the store"):
        reader.load({**record, "uri": "00/absent.png"})


def test_file_url_is_a_local_directory(tmp_path):
    store = ArtifactStore(tmp_path.as_uri())
    artifact_id, _, uri = store.put("boxes", [{"box": [0, 0, 2, 2]}])
    assert store.is_local and store.root == tmp_path
    assert (tmp_path / uri).is_file()
    assert not list(tmp_path.rglob(".tmp-*"))  # the temporary file became the artifact
    record = {"handle": "boxes-1", "id": artifact_id, "kind": "boxes", "uri": uri}
    assert store.url_of(record) == (tmp_path / uri).as_uri()  # type: ignore[arg-type]


def test_unknown_url_scheme_says_what_to_install():
    with pytest.raises(ConfigError, match="fsspec"):
        ArtifactStore("nosuchscheme://bucket/artifacts")
