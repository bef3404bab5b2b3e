"""Where the service keeps tasks, their events, session owners and artifact grants: one SQL database.

Every ingress replica reads and writes the same database, so any of them answers for any task: SQLite
(``<data_dir>/service.sqlite``, one replica; in memory with the memory checkpointer) or the
PostgreSQL database the checkpointer uses (several replicas).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from extensions import ExtensionRef
from orchestrator.config import ReactorConfig
from orchestrator.errors import ConfigError
from orchestrator.storage.checkpointing import POSTGRES_URL_ENV

__all__ = ["ACTIVE", "FINAL", "TaskStore", "open_task_store"]

ACTIVE = ("queued", "running")
FINAL = ("answered", "failed", "cancelled", "pending")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS mmr_sessions (
        session TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS mmr_tasks (
        task_id TEXT PRIMARY KEY, owner TEXT NOT NULL, session TEXT NOT NULL, kind TEXT NOT NULL,
        task TEXT NOT NULL, status TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL, replica TEXT NOT NULL, cancel_requested INTEGER NOT NULL,
        last_seq INTEGER NOT NULL, result TEXT)""",
    "CREATE INDEX IF NOT EXISTS mmr_tasks_session ON mmr_tasks (session, created_at)",
    "CREATE INDEX IF NOT EXISTS mmr_tasks_owner ON mmr_tasks (owner, status)",
    """CREATE TABLE IF NOT EXISTS mmr_events (
        task_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (task_id, seq))""",
    """CREATE TABLE IF NOT EXISTS mmr_artifacts (
        artifact_id TEXT NOT NULL, session TEXT NOT NULL, kind TEXT NOT NULL, uri TEXT NOT NULL,
        PRIMARY KEY (artifact_id, session))""",
)
_TASK_COLUMNS = (
    "task_id, owner, session, kind, task, status, created_at, updated_at, replica, cancel_requested"
)


class TaskStore:
    """Tasks and their events by id, session owners, and which sessions hold which artifacts.

    ``connect`` is a context manager factory giving a DB-API connection; ``placeholder`` is its
    parameter marker (``?`` for sqlite3, ``%s`` for psycopg).
    """

    def __init__(self, connect: Callable[[], Any], placeholder: str, close: Callable[[], None]) -> None:
        self._connect = connect
        self._mark = placeholder
        self.close = close
        for statement in _SCHEMA:
            self._run(statement)

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self._connect() as connection:
            cursor = connection.cursor()
            try:
                yield cursor
            finally:
                cursor.close()

    def _run(self, sql: str, *params: Any) -> int:
        with self._cursor() as cursor:
            cursor.execute(sql.replace("?", self._mark), params)
            return int(cursor.rowcount)

    def _rows(self, sql: str, *params: Any) -> list[tuple]:
        with self._cursor() as cursor:
            cursor.execute(sql.replace("?", self._mark), params)
            return [tuple(row) for row in cursor.fetchall()]

    # -- sessions -------------------------------------------------------------------------------------
    def claim_session(self, session: str, owner: str) -> bool:
        """Give ``session`` to ``owner`` unless another owner has it; True when ``owner`` holds it."""
        self._run(
            "INSERT INTO mmr_sessions (session, owner, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (session) DO NOTHING",
            session,
            owner,
            time.time(),
        )
        return self.session_owner(session) == owner

    def session_owner(self, session: str) -> str | None:
        rows = self._rows("SELECT owner FROM mmr_sessions WHERE session = ?", session)
        return rows[0][0] if rows else None

    def sessions(self, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        """The owner's sessions, newest first, with their task counts."""
        rows = self._rows(
            "SELECT s.session, s.created_at, COUNT(t.task_id), MAX(t.created_at) FROM mmr_sessions s "
            "LEFT JOIN mmr_tasks t ON t.session = s.session WHERE s.owner = ? "
            "GROUP BY s.session, s.created_at "
            "ORDER BY COALESCE(MAX(t.created_at), s.created_at) DESC LIMIT ?",
            owner,
            limit,
        )
        return [{"session": r[0], "created_at": r[1], "tasks": r[2], "last_task_at": r[3]} for r in rows]

    # -- tasks ----------------------------------------------------------------------------------------
    def create_task(self, task_id: str, owner: str, session: str, kind: str, task: str, replica: str) -> None:
        now = time.time()
        self._run(
            f"INSERT INTO mmr_tasks ({_TASK_COLUMNS}, last_seq) "
            "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, 0, 0)",
            task_id,
            owner,
            session,
            kind,
            task,
            now,
            now,
            replica,
        )

    def task(self, task_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            f"SELECT {_TASK_COLUMNS}, last_seq, result FROM mmr_tasks WHERE task_id = ?", task_id
        )
        return _task_row(rows[0]) if rows else None

    def session_tasks(self, session: str) -> list[dict[str, Any]]:
        """The session's tasks, oldest first, without their results."""
        rows = self._rows(
            f"SELECT {_TASK_COLUMNS}, last_seq, NULL FROM mmr_tasks WHERE session = ? ORDER BY created_at",
            session,
        )
        return [_task_row(r) for r in rows]

    def count_active(self, *, owner: str | None = None, session: str | None = None) -> int:
        column, value = ("owner", owner) if owner is not None else ("session", session)
        rows = self._rows(
            f"SELECT COUNT(*) FROM mmr_tasks WHERE {column} = ? AND status IN ('queued', 'running')", value
        )
        return int(rows[0][0])

    def set_status(
        self, task_id: str, status: str, *, replica: str | None = None, expect: str | None = None
    ) -> bool:
        """Set a task's status (only from ``expect`` when given); True when the row changed."""
        sql = "UPDATE mmr_tasks SET status = ?, updated_at = ?" + (", replica = ?" if replica else "")
        params: list[Any] = [status, time.time(), *([replica] if replica else [])]
        sql += " WHERE task_id = ?" + (" AND status = ?" if expect else "")
        params += [task_id, *([expect] if expect else [])]
        return self._run(sql, *params) == 1

    def finish(self, task_id: str, status: str, result: dict[str, Any], last_seq: int | None = None) -> None:
        """Store the task's Result and final status; ``last_seq``: the number its end event will have
        (set first, so a follower never takes a finished task's stream for complete before that event)."""
        self._run(
            "UPDATE mmr_tasks SET status = ?, result = ?, updated_at = ?, cancel_requested = 0, "
            "last_seq = COALESCE(?, last_seq) WHERE task_id = ?",
            status,
            json.dumps(result),
            time.time(),
            last_seq,
            task_id,
        )

    def request_cancel(self, task_id: str) -> None:
        self._run("UPDATE mmr_tasks SET cancel_requested = 1 WHERE task_id = ?", task_id)

    def cancel_requests(self, task_ids: list[str]) -> list[str]:
        """Which of ``task_ids`` someone asked (through any replica) to cancel."""
        if not task_ids:
            return []
        marks = ", ".join("?" * len(task_ids))
        rows = self._rows(
            f"SELECT task_id FROM mmr_tasks WHERE cancel_requested = 1 AND task_id IN ({marks})", *task_ids
        )
        return [r[0] for r in rows]

    def abandon(self, replica_prefix: str, message: str) -> int:
        """Mark queued or running tasks of replicas that are gone as failed; how many there were."""
        return self._run(
            "UPDATE mmr_tasks SET status = 'failed', result = ?, updated_at = ? "
            "WHERE status IN ('queued', 'running') AND replica NOT LIKE ?",
            json.dumps({"failure": message}),
            time.time(),
            replica_prefix + "%",
        )

    # -- events ---------------------------------------------------------------------------------------
    def add_event(self, task_id: str, seq: int, kind: str, data: str) -> None:
        self._run(
            "INSERT INTO mmr_events (task_id, seq, type, data) VALUES (?, ?, ?, ?)", task_id, seq, kind, data
        )
        self._run(
            "UPDATE mmr_tasks SET last_seq = ?, updated_at = ? WHERE task_id = ?", seq, time.time(), task_id
        )

    def events(self, task_id: str, after: int = 0) -> list[tuple[int, str, str]]:
        """(seq, type, JSON) of the task's events after ``after``, in order."""
        rows = self._rows(
            "SELECT seq, type, data FROM mmr_events WHERE task_id = ? AND seq > ? ORDER BY seq",
            task_id,
            after,
        )
        return [(int(r[0]), r[1], r[2]) for r in rows]

    # -- artifacts ------------------------------------------------------------------------------------
    def grant_artifacts(self, session: str, artifacts: list[tuple[str, str, str]]) -> None:
        """Record that ``session`` holds these artifacts (id, kind, uri in the store)."""
        for artifact_id, kind, uri in artifacts:
            self._run(
                "INSERT INTO mmr_artifacts (artifact_id, session, kind, uri) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (artifact_id, session) DO NOTHING",
                artifact_id,
                session,
                kind,
                uri,
            )

    def artifact_for(self, artifact_id: str, owner: str) -> tuple[str, str] | None:
        """(kind, uri) of an artifact in one of ``owner``'s sessions, or None."""
        rows = self._rows(
            "SELECT a.kind, a.uri FROM mmr_artifacts a JOIN mmr_sessions s ON s.session = a.session "
            "WHERE a.artifact_id = ? AND s.owner = ? LIMIT 1",
            artifact_id,
            owner,
        )
        return (rows[0][0], rows[0][1]) if rows else None


def _task_row(row: tuple) -> dict[str, Any]:
    keys = [*_TASK_COLUMNS.split(", "), "last_seq", "result"]
    data = dict(zip(keys, row, strict=True))
    data["cancel_requested"] = bool(data["cancel_requested"])
    data["result"] = json.loads(data["result"]) if data["result"] else None
    return data


def open_task_store(config: ReactorConfig) -> TaskStore:
    """The task database beside the configured checkpointer: PostgreSQL for ``postgres``, else SQLite."""
    setting = config.checkpointer
    name = setting.label if isinstance(setting, ExtensionRef) else setting
    if name == "postgres":
        options = setting.options if isinstance(setting, ExtensionRef) else {}
        configured = config.postgres_url.get_secret_value() if config.postgres_url else None
        return _postgres(options.get("url") or configured or os.environ.get(POSTGRES_URL_ENV))
    path = ":memory:" if name == "memory" else str(config.data_dir / "service.sqlite")
    if path != ":memory:":
        config.data_dir.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    if path != ":memory:":
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=5000")
    lock = threading.Lock()

    @contextmanager
    def connect() -> Iterator[sqlite3.Connection]:
        with lock:
            yield connection

    return TaskStore(connect, "?", connection.close)


def _postgres(url: str | None) -> TaskStore:
    if not url:
        raise ConfigError(
            f"the service keeps its tasks in the checkpointer's PostgreSQL database: set postgres_url "
            f"or {POSTGRES_URL_ENV}"
        )
    import psycopg
    from psycopg_pool import ConnectionPool

    pool: ConnectionPool[psycopg.Connection] = ConnectionPool(
        url, min_size=1, max_size=8, kwargs={"autocommit": True}, open=True, name="mm-reactor-service"
    )
    return TaskStore(pool.connection, "%s", pool.close)
