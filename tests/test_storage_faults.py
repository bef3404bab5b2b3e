"""Storage faults never rewrite history: full disks and databases, damaged, empty and foreign files.

A full database is SQLite's own ``PRAGMA max_page_count`` on the checkpointer's connection (SQLite
then fails the write with "database or disk is full", as on a full disk); a full artifact disk is a
directory whose writes fail with ENOSPC, and in a subprocess the kernel's own file-size limit
(``RLIMIT_FSIZE``). Every failure is a ``StorageError`` naming the path and the cause -- raised
before any work, or ending a run as a failed Result -- and the session keeps its past.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm.scripted import ScriptedChatModel
from orchestrator import Orchestrator, StorageError
from orchestrator.config import load_config
from orchestrator.serving.runtime import ExpertRuntime
from orchestrator.storage.artifacts import ArtifactStore

REPO = Path(__file__).resolve().parents[1]


def local(data_dir: Path, **extra: Any) -> Orchestrator:
    """An orchestrator without Ray: these turns call no expert."""
    config = load_config({"data_dir": str(data_dir), "experts": {}} | extra)
    return Orchestrator(config, ExpertRuntime(config.ray))


def answer(text: str) -> ScriptedChatModel:
    return ScriptedChatModel([f"Thought: done\nFinal Answer: {text}"])


def photo(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (10, 12, 3), dtype=np.uint8)


def first_turn(data_dir: Path) -> dict[str, Any]:
    """A session with one finished turn; returns its stored values."""
    with local(data_dir) as orch:
        assert orch.run("first", images=[photo(1)], session="s", chat_model=answer("one")).ok
        return orch.runner.values("s")


def open_files(prefix: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(prefix)):
            found.append(target)
    return found


# -- a full database ------------------------------------------------------------------------------------


@pytest.mark.parametrize("room", range(0, 12))
def test_a_full_database_fails_the_turn_and_keeps_the_past(tmp_path, room):
    """``room`` free pages: the turn's writes fail at each point in turn (its input, a step, its end)."""
    before = first_turn(tmp_path)
    orch = local(tmp_path)
    connection = orch._checkpointer.saver.inner.conn
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages + room}")
    long_answer = "two " + "x" * 20_000  # more than the free pages hold
    try:
        result = orch.run("second", images=[photo(2)], session="s", chat_model=answer(long_answer))
        pending = orch.pending_run("s")
        after = orch.runner.values("s")
        connection.execute("PRAGMA max_page_count = 1073741823")  # space again
        third = orch.run("third", session="s", chat_model=answer("three"))
        final = orch.runner.values("s")
    finally:
        orch.close()
    assert result.status == "failed" and result.task == "second"
    failure = result.failure or ""
    assert f"{tmp_path / 'sessions.sqlite'}" in failure and "the disk is full" in failure, failure
    assert "database or disk is full" in failure  # the store's own words
    # The finished first turn is never shown as unfinished, nor recorded as interrupted.
    assert pending is None or pending["task"] == "second"
    runs = {r["run_id"]: r for r in final["runs"]}
    first_run = before["runs"][0]["run_id"]
    assert runs[first_run]["status"] == "answered" and runs[first_run]["task"] == "first"
    assert third.ok and first_run not in third.interrupted_runs
    assert final["transcript"][: len(before["transcript"])] == before["transcript"]
    assert final["artifacts"]["image-1"] == before["artifacts"]["image-1"]
    second_runs = [r for r in final["runs"] if r.get("task") == "second"]
    # The second turn is recorded as failed -- or, when nothing of it could be kept, absent.
    assert [r["status"] for r in second_runs] in (["failed"], [])
    if not second_runs:
        assert after["transcript"] == before["transcript"]  # exactly as it was before


def test_a_failed_turn_that_could_be_recorded_says_so_to_the_next_turn(tmp_path):
    first_turn(tmp_path)
    orch = local(tmp_path)
    connection = orch._checkpointer.saver.inner.conn
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages + 10}")
    try:
        failed = orch.run("second", session="s", chat_model=answer("x" * 40_000))
        connection.execute("PRAGMA max_page_count = 1073741823")
        model = answer("three")
        assert orch.run("third", session="s", chat_model=model).ok
    finally:
        orch.close()
    assert failed.status == "failed" and "recorded in the session as failed" in (failed.failure or "")
    seen = "\n".join(m["content"] for m in model.seen[0])
    assert "storage failed while running the task 'second'" in seen


def test_a_full_postgres_database_takes_the_session_back(tmp_path, postgres_url):
    """The server refuses new checkpoints with SQLSTATE 53100 (disk full) in the middle of a turn."""
    import psycopg

    session = f"pg-full-{uuid.uuid4().hex[:8]}"
    settings = {"checkpointer": "postgres", "postgres_url": postgres_url}
    trigger = f"full_{session.replace('-', '_')}"

    def fill_the_disk(messages: list[Any]) -> str:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                f"CREATE FUNCTION {trigger}() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.thread_id = '{session}' THEN RAISE EXCEPTION "
                "'could not extend file: No space left on device' USING ERRCODE = '53100'; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            admin.execute(
                f"CREATE TRIGGER {trigger} BEFORE INSERT ON checkpoints "
                f"FOR EACH ROW EXECUTE FUNCTION {trigger}()"
            )
        return "Thought: done\nFinal Answer: two"

    orch = local(tmp_path, **settings)
    try:
        assert orch.run("first", images=[photo(1)], session=session, chat_model=answer("one")).ok
        before = orch.runner.values(session)
        result = orch.run(
            "second", images=[photo(2)], session=session, chat_model=ScriptedChatModel([fill_the_disk])
        )
        after, pending = orch.runner.values(session), orch.pending_run(session)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP TRIGGER IF EXISTS {trigger} ON checkpoints")
            admin.execute(f"DROP FUNCTION IF EXISTS {trigger}()")
    try:
        third = orch.run("third", session=session, chat_model=answer("three"))
    finally:
        orch.close()
    assert result.status == "failed"
    failure = result.failure or ""
    assert "the database server's disk is full" in failure and "No space left on device" in failure, failure
    assert postgres_url.split("@")[-1] in failure  # the server, by its (redacted) URL
    assert "taken back to exactly where it was before this turn" in failure
    assert after == before and pending is None  # exactly as it was
    assert third.ok and third.interrupted_runs == []


# -- damaged, empty and foreign database files ------------------------------------------------------------


def test_an_empty_database_file_is_refused_not_replaced(tmp_path):
    first_turn(tmp_path)
    database = tmp_path / "sessions.sqlite"
    database.write_bytes(b"")  # what a failed copy or a full disk at the wrong moment leaves
    with pytest.raises(StorageError) as refused:
        local(tmp_path)
    message = str(refused.value)
    assert str(database) in message and "is empty (0 bytes)" in message
    assert "Restore the file from a backup, or move it aside" in message
    assert refused.value.path == str(database)
    assert database.stat().st_size == 0  # untouched: never silently made into a new database


def test_a_truncated_database_file_is_refused(tmp_path):
    first_turn(tmp_path)
    database = tmp_path / "sessions.sqlite"
    data = database.read_bytes()
    database.write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(StorageError, match=r"is truncated \(\d+ bytes") as refused:
        local(tmp_path)
    assert str(database) in str(refused.value) and "move it aside" in str(refused.value)


def test_a_damaged_database_file_is_refused(tmp_path):
    first_turn(tmp_path)
    database = tmp_path / "sessions.sqlite"
    data = bytearray(database.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : 2 * page] = bytes(range(256)) * (page // 256)  # page 2 (a b-tree page) is garbage
    database.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=r"is damaged|cannot be read|damaged") as refused:
        local(tmp_path)
    assert str(database) in str(refused.value) and "Restore the file from a backup" in str(refused.value)


@pytest.mark.parametrize("kind", ["another program's database", "not a database"])
def test_a_foreign_file_is_refused(tmp_path, kind):
    database = tmp_path / "sessions.sqlite"
    if kind == "not a database":
        database.write_text("name,email\nada,ada@example.com\n")
        expected = "is not an SQLite database"
    else:
        with sqlite3.connect(database) as other:
            other.execute("CREATE TABLE customers (name TEXT, email TEXT)")
        expected = r"holds another program's tables \(customers\)"
    before = database.read_bytes()
    with pytest.raises(StorageError, match=expected) as refused:
        local(tmp_path)
    assert str(database) in str(refused.value)
    assert database.read_bytes() == before


def test_a_damaged_checkpoint_is_a_storage_error_naming_the_file_and_session(tmp_path):
    """Flipped bytes inside a stored checkpoint: the file is sound, one record is not."""
    first_turn(tmp_path)
    database = tmp_path / "sessions.sqlite"
    with sqlite3.connect(database) as editor:
        rowid, blob = editor.execute(
            "SELECT rowid, checkpoint FROM checkpoints ORDER BY checkpoint_id DESC"
        ).fetchone()
        damaged = bytearray(blob)
        for i in range(len(damaged) // 3, len(damaged) // 3 + 24):
            damaged[i] ^= 0xFF
        editor.execute("UPDATE checkpoints SET checkpoint = ? WHERE rowid = ?", (bytes(damaged), rowid))
    with local(tmp_path) as orch:
        with pytest.raises(StorageError) as refused:
            orch.session_artifacts("s")
        with pytest.raises(StorageError):
            orch.run("second", images=[photo(2)], session="s", chat_model=answer("two"))
        assert orch.run("elsewhere", session="other", chat_model=answer("fine")).ok  # other sessions work
    message = str(refused.value)
    assert f"of session 's' in {database}" in message and "a stored record cannot be read" in message
    assert "Restore the file from a backup, or move it aside" in message


# -- artifacts on a full disk -----------------------------------------------------------------------------


def test_an_input_that_cannot_be_saved_is_a_storage_error_before_any_work(tmp_path):
    before = first_turn(tmp_path)
    store = {
        "class": "tests.support.storage_faults:FullDirectory",
        "options": {"root": str(tmp_path / "artifacts"), "room": 0},
    }
    with local(tmp_path, artifact_store=store) as orch:
        with pytest.raises(StorageError) as refused:
            orch.run("second", images=[photo(2)], session="s", chat_model=answer("two"))
        after = orch.runner.values("s")
        assert orch.pending_run("s") is None
    message = str(refused.value)
    assert "cannot save image artifact" in message and str(tmp_path / "artifacts") in message
    assert "the disk is full (OSError: [Errno 28] No space left on device" in message
    assert after == before  # nothing of the refused turn is in the session


def test_the_kernels_file_size_limit_is_a_storage_error_naming_the_store(tmp_path):
    """A real failing write (EFBIG from the kernel), in a process with RLIMIT_FSIZE set."""
    command = [sys.executable, "-m", "tests.support.storage_faults", "--data-dir", str(tmp_path)]
    command += ["--max-file-bytes", str(256 * 1024), "--image-side", "400"]
    done = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stderr[-3000:]
    out = json.loads(lines[-1])
    assert out.get("error") == "StorageError", out
    assert out["path"] == str(tmp_path / "artifacts")
    assert "the file-size limit is reached" in out["message"] and "File too large" in out["message"]


@pytest.mark.ray
def test_an_output_that_cannot_be_saved_fails_the_run_naming_the_store(orch, tmp_path):
    """Mid-run: the replica's new image does not fit on the artifact disk; the run ends failed."""
    picture = np.random.default_rng(7).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    sizing = tmp_path / "sizing"
    _, _, uri = ArtifactStore(sizing).put("image", picture)
    room = (sizing / uri).stat().st_size  # the input fits, the replica's output does not
    artifacts = tmp_path / "artifacts"
    config = {
        "data_dir": str(tmp_path),
        "ray": {"app_prefix": "test-"},  # the experts of the session's shared orchestrator
        "experts": {"invert": {"class": "tests.support.experts:Invert"}},
        "artifact_store": {
            "class": "tests.support.storage_faults:FullDirectory",
            "options": {"root": str(artifacts), "room": room},
        },
    }
    invert = 'Thought: invert\nAction: invert\nAction Input: {"image": "image-1"}'
    with Orchestrator.local(config, deploy=False) as limited:
        result = limited.run(
            "invert it",
            images=[picture],
            session="full",
            chat_model=ScriptedChatModel([invert, "Final Answer: done"]),
        )
        stored = limited.runner.values("full")
    assert result.status == "failed"
    failure = result.failure or ""
    assert failure.startswith("outputs could not be saved to the artifact store: image-2: cannot save image")
    assert (
        str(artifacts) in failure
        and "the disk is full (OSError: [Errno 28] No space left on device" in failure
    )
    assert stored["runs"][-1]["status"] == "failed" and stored["runs"][-1]["failure"] == failure


# -- closing ---------------------------------------------------------------------------------------------


def test_close_releases_every_file(tmp_path):
    orch = local(tmp_path)
    assert orch.run("first", images=[photo(1)], session="s", chat_model=answer("one")).ok
    connection = orch._checkpointer.saver.inner.conn
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages + 3}")
    assert orch.run("full", session="s", chat_model=answer("x" * 30_000)).status == "failed"
    unfinished = orch.stream("left running", session="t", chat_model=answer("never read"))
    next(unfinished)  # a run started and never finished by its caller
    assert open_files(tmp_path / "sessions.sqlite")  # the database is open while the orchestrator is
    orch.close()
    assert open_files(tmp_path / "sessions.sqlite") == []  # sessions.sqlite, -wal and -shm
    unfinished.close()
    shutil.copy(tmp_path / "sessions.sqlite", tmp_path / "copy.sqlite")  # a consistent file on its own
    with sqlite3.connect(tmp_path / "copy.sqlite") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
