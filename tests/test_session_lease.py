"""One writer per session, across processes: the session lease in the checkpoint database.

The lease tests run real processes (``tests/support/lease_worker.py``: an orchestrator without Ray
running one turn with an input image) on a shared SQLite file and on a real PostgreSQL server. A
second process is refused while a run holds the session; a frozen holder's lease expires and
another process takes over; a run that outlives its lease's time keeps it by renewing it; a run
that lost its lease writes nothing more. Every backend's leases pass the same conformance test.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experts.protocol import pixel_content_id
from llm.scripted import ScriptedChatModel
from orchestrator import InputError, Orchestrator
from orchestrator.config import load_config
from orchestrator.serving.runtime import ExpertRuntime
from orchestrator.storage.checkpointing import open_checkpointer
from orchestrator.storage.leases import SessionLeases
from orchestrator.storage.sql_leases import LEASE_TABLE
from tests.support.lease_worker import LeaseWorker, input_image

BACKENDS = ["memory", "sqlite", "postgres", "sqlite-by-class"]
SHARED = ["sqlite", "postgres"]  # the backends several processes share


def checkpointer_setting(backend: str, tmp_path: Path, ttl_s: float | None = None) -> dict[str, Any]:
    options = {} if ttl_s is None else {"lease_ttl_s": ttl_s}
    if backend == "sqlite-by-class":
        options["path"] = str(tmp_path / "elsewhere.sqlite")
        return {"class": "orchestrator.storage.checkpointing:open_sqlite", "options": options}
    return {"name": backend, "options": options}


@pytest.fixture
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Where the processes of one test keep their sessions: a data directory, and a PostgreSQL URL."""
    backend = request.param
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    markers = tmp_path / "markers"
    markers.mkdir()
    yield {"backend": backend, "data_dir": tmp_path / "data", "postgres_url": url, "markers": markers}


def spawn(shared: dict[str, Any], session: str, seed: int, **options: Any) -> LeaseWorker:
    return LeaseWorker(
        shared["data_dir"],
        shared["markers"],
        session,
        seed,
        postgres_url=shared["postgres_url"],
        **options,
    )


def wait_until_running(markers: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not list(markers.glob("*.running")):
        assert time.monotonic() < deadline, "the holding run never reached its controller"
        time.sleep(0.05)


def reader(shared: dict[str, Any]) -> Orchestrator:
    """An orchestrator in this process on the same sessions (no Ray: it only reads)."""
    name = shared["backend"]
    config = load_config(
        {"data_dir": str(shared["data_dir"]), "checkpointer": name, "postgres_url": shared["postgres_url"]}
        | {"experts": {}}
    )
    return Orchestrator(config, ExpertRuntime(config.ray))


def image_id(seed: int) -> str:
    return pixel_content_id("image", input_image(seed))


def new_session() -> str:
    return f"lease-{uuid.uuid4().hex[:10]}"


# -- real processes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", SHARED, indirect=True)
def test_a_second_process_is_refused_while_a_run_holds_the_session(shared):
    """Both processes once answered and both claimed the same handle; one input was lost."""
    session = new_session()
    holder = spawn(shared, session, seed=1, hold=True)
    try:
        wait_until_running(shared["markers"])
        refused = spawn(shared, session, seed=2).result()
    finally:
        (shared["markers"] / "go").touch()
    assert refused["error"] == "InputError", refused
    assert f"session {session!r} is running a task in another process" in refused["message"]
    assert "wait for it to finish, or use another session" in refused["message"]
    first = holder.result()
    assert first["status"] == "answered", first
    assert first["ids"] == {"image-1": image_id(1)}

    second = spawn(shared, session, seed=2).result()  # once the first run is over, the session is free
    assert second["status"] == "answered", second
    assert second["ids"] == {"image-1": image_id(1), "image-2": image_id(2)}
    orch = reader(shared)
    try:
        stored = {h: a.id for h, a in orch.session_artifacts(session).items()}
        runs = orch.runner.values(session)["runs"]
    finally:
        orch.close()
    assert stored == second["ids"]  # nothing lost: every input under its own handle
    assert [r["status"] for r in runs] == ["answered", "answered"]


@pytest.mark.parametrize("shared", SHARED, indirect=True)
def test_a_frozen_holders_lease_expires_and_another_process_takes_over(shared):
    """A holder that stops renewing while its process lives on (frozen, or cut off on another machine)
    keeps its session until the lease expires; then another process takes over. (A holder whose process
    is gone from this machine is taken over at once: test_a_lease_whose_process_is_gone_… below.)"""
    session, ttl = new_session(), 6.0
    holder = spawn(shared, session, seed=1, hold=True, lease_ttl_s=ttl)
    wait_until_running(shared["markers"])
    os.kill(holder.process.pid, signal.SIGSTOP)  # mid-run: the lease is no longer renewed, nor released
    try:
        orch = reader(shared)
        try:
            with pytest.raises(InputError, match="is running a task in another process"):
                orch.run("right away", session=session, chat_model=ScriptedChatModel(["Final Answer: no"]))
            lost = orch.pending_run(session)
        finally:
            orch.close()
        assert lost is not None and lost["task"] == "describe the photo"
        _take_over(shared, session, ttl, lost)
    finally:
        holder.kill()


def _take_over(shared: dict[str, Any], session: str, ttl: float, lost: dict[str, Any]) -> None:

    deadline = time.monotonic() + 20 * ttl
    while True:  # a new process starts in seconds; the lease ends ttl_s after the last renewal
        taken = spawn(shared, session, seed=2, lease_ttl_s=ttl).result()
        if "error" not in taken or time.monotonic() > deadline:
            break
        assert taken["error"] == "InputError", taken
        time.sleep(ttl / 4)
    assert taken.get("status") == "answered", taken
    assert taken["interrupted_runs"] == [lost["run_id"]]  # the stopped run is recorded, not dropped
    assert taken["ids"] == {"image-1": image_id(1), "image-2": image_id(2)}


@pytest.mark.parametrize("shared", ["sqlite"], indirect=True)
def test_a_run_longer_than_its_lease_keeps_it_by_renewing(shared):
    session, ttl = new_session(), 1.0
    holder = spawn(shared, session, seed=1, hold=True, lease_ttl_s=ttl)
    try:
        wait_until_running(shared["markers"])
        time.sleep(4 * ttl)  # four lease lifetimes: only the heartbeat keeps it
        refused = spawn(shared, session, seed=2, lease_ttl_s=ttl).result()
    finally:
        (shared["markers"] / "go").touch()
    assert refused["error"] == "InputError", refused
    assert holder.result()["status"] == "answered"


# -- in one process ----------------------------------------------------------------------------------------


def local(tmp_path: Path, backend: str = "sqlite", **extra: Any) -> Orchestrator:
    config = load_config(
        {"data_dir": str(tmp_path), "checkpointer": checkpointer_setting(backend, tmp_path), "experts": {}}
        | extra
    )
    return Orchestrator(config, ExpertRuntime(config.ray))


def test_two_orchestrators_of_one_process_share_the_lease(tmp_path):
    first, second = local(tmp_path), local(tmp_path)
    refusals: list[str] = []

    def meanwhile(messages: list[Any]) -> str:
        with pytest.raises(InputError) as refused:
            second.run("me too", session="shared", chat_model=ScriptedChatModel(["Final Answer: no"]))
        refusals.append(str(refused.value))
        return "Thought: done\nFinal Answer: yes"

    try:
        assert first.run("hold it", session="shared", chat_model=ScriptedChatModel([meanwhile])).ok
        assert second.run("now", session="shared", chat_model=ScriptedChatModel(["Final Answer: ok"])).ok
    finally:
        first.close()
        second.close()
    assert refusals and "is running a task in another orchestrator of this process" in refusals[0]


def test_a_run_that_lost_its_lease_writes_nothing_more(tmp_path):
    """Another process took the session over (this one stalled past its lease): no more checkpoints."""
    orch = local(tmp_path)
    database = tmp_path / "sessions.sqlite"

    def stall_and_lose_the_session(messages: list[Any]) -> str:
        with sqlite3.connect(database) as other:  # what a process taking over an expired lease does
            other.execute(f"UPDATE {LEASE_TABLE} SET holder = 'theirs', owner = 'pid 1 on elsewhere'")
        return "Thought: done\nFinal Answer: written by a process that lost the session"

    try:
        result = orch.run("task", session="taken", chat_model=ScriptedChatModel([stall_and_lose_the_session]))
        stored = orch.runner.values("taken")
    finally:
        orch.close()
    assert result.status == "failed"
    assert "lost the lease of session 'taken'" in (result.failure or "")
    assert "another process took the session over" in (result.failure or "")
    assert stored["status"] == "running" and stored["answer"] is None  # as the run left it before
    assert not any("lost the session" in m["content"] for m in stored["transcript"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_leases_conform(backend, tmp_path, request):
    """Every backend: one holder at a time, renew and release by the holder only, expiry and takeover."""
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    ttl = 0.5
    settings = {"data_dir": str(tmp_path), "postgres_url": url}
    config = load_config(settings | {"checkpointer": checkpointer_setting(backend, tmp_path, ttl)})
    opened = [open_checkpointer(config)]
    if backend != "memory":  # a second process's view of the same store
        opened.append(open_checkpointer(config))
    a_view, b_view = opened[0].leases.leases, opened[-1].leases.leases
    assert isinstance(a_view, SessionLeases) and a_view.ttl_s == ttl
    session = new_session()
    try:
        assert a_view.acquire(session, "run-a", "process a") is None
        assert a_view.acquire(session, "run-a", "process a") is None  # its own holder may take it again
        held = b_view.acquire(session, "run-b", "process b")
        assert held is not None and held.holder == "run-a" and held.owner == "process a"
        assert 0 < held.expires_in_s <= ttl
        assert a_view.renew(session, "run-a") and not b_view.renew(session, "run-b")
        b_view.release(session, "run-b")  # not b's: nothing happens
        assert b_view.acquire(session, "run-b", "process b") is not None
        a_view.release(session, "run-a")
        assert b_view.acquire(session, "run-b", "process b") is None
        time.sleep(ttl * 2)  # b stopped renewing, as a killed process does
        assert a_view.acquire(session, "run-a", "process a") is None  # taken over
        assert not b_view.renew(session, "run-b")
        assert b_view.acquire(f"{session}-other", "run-b", "process b") is None  # sessions are separate
    finally:
        for each in opened:
            each.close()


@pytest.mark.parametrize("backend", SHARED)
def test_a_lease_whose_process_is_gone_from_this_machine_is_taken_over_at_once(backend, tmp_path, request):
    """A run on this machine that died without releasing its session does not lock it until the lease
    expires; a holder whose process still runs (or that ran elsewhere) keeps it."""
    import subprocess
    import sys

    from orchestrator.storage.leases import LeaseKeeper, this_process

    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    config = load_config(
        {
            "data_dir": str(tmp_path),
            "postgres_url": url,
            "checkpointer": checkpointer_setting(backend, tmp_path),
        }
    )
    opened = open_checkpointer(config)
    leases = opened.leases.leases
    keeper = LeaseKeeper(leases, where="the test's store")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = this_process()
    try:
        for name, process in (("live", alive), ("dead", dead)):
            owner = me.replace(f"pid {__import__('os').getpid()} ", f"pid {process.pid} ", 1)
            assert leases.acquire(f"{name}-{tmp_path.name}", f"run-{name}", owner) is None
        assert leases.acquire(f"far-{tmp_path.name}", "run-far", "pid 1 on elsewhere (pidns 1)") is None
        for session in (f"live-{tmp_path.name}", f"far-{tmp_path.name}"):
            with pytest.raises(InputError, match="is running a task in another process"):
                keeper.hold(session, on_lost=lambda: None)
        held = keeper.hold(f"dead-{tmp_path.name}", on_lost=lambda: None)  # no wait for the lease's expiry
        held.release()
    finally:
        alive.kill()
        alive.wait()
        keeper.close()
        opened.close()
