"""Session leases in the checkpoint database: SQLite (one file, many processes) and PostgreSQL.

One row per session holds the holder's run id, its process and when the lease ends, by the
database's own clock (processes on different machines need not agree on the time). Taking a lease
is one atomic upsert that succeeds only when the row is free, expired or already the holder's.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from orchestrator.storage.leases import DEFAULT_TTL_S, LeaseInfo, SessionLeases

__all__ = ["LEASE_TABLE", "PostgresLeases", "SqliteLeases", "create_lease_table"]

LEASE_TABLE = "mm_reactor_session_leases"
_SQLITE_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
_PG_NOW = "extract(epoch from clock_timestamp())"


def create_lease_table(execute: Any) -> None:
    """Create the lease table with ``execute(sql)`` (a SQLite or psycopg connection's execute)."""
    execute(
        f"CREATE TABLE IF NOT EXISTS {LEASE_TABLE} ("
        "session TEXT PRIMARY KEY, holder TEXT NOT NULL, owner TEXT NOT NULL, "
        "expires_at DOUBLE PRECISION NOT NULL)"
    )


def _upsert(now: str, mark: str) -> str:
    return (
        f"INSERT INTO {LEASE_TABLE} (session, holder, owner, expires_at) "
        f"VALUES ({mark}, {mark}, {mark}, {now} + {mark}) "
        "ON CONFLICT (session) DO UPDATE SET holder = excluded.holder, owner = excluded.owner, "
        f"expires_at = excluded.expires_at WHERE {LEASE_TABLE}.expires_at <= {now} "
        f"OR {LEASE_TABLE}.holder = excluded.holder"
    )


def _info(row: Any, holder: str) -> LeaseInfo | None:
    if row is None or row[0] == holder:
        return None
    return LeaseInfo(holder=row[0], owner=row[1], expires_in_s=float(row[2]))


class SqliteLeases(SessionLeases):
    """Leases in an SQLite file (the sessions database), on a connection of their own."""

    def __init__(self, path: str | Path, *, ttl_s: float = DEFAULT_TTL_S, timeout_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=timeout_s
        )
        self._lock = threading.Lock()
        try:
            create_lease_table(self._connection.execute)
        except BaseException:
            self._connection.close()
            raise

    def acquire(self, session: str, holder: str, owner: str) -> LeaseInfo | None:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.execute(_upsert(_SQLITE_NOW, "?"), (session, holder, owner, self.ttl_s))
                row = self._connection.execute(
                    f"SELECT holder, owner, expires_at - {_SQLITE_NOW} FROM {LEASE_TABLE} WHERE session = ?",
                    (session,),
                ).fetchone()
                self._connection.execute("COMMIT")
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise
        return _info(row, holder)

    def renew(self, session: str, holder: str) -> bool:
        with self._lock:
            cursor = self._connection.execute(
                f"UPDATE {LEASE_TABLE} SET expires_at = {_SQLITE_NOW} + ? WHERE session = ? AND holder = ?",
                (self.ttl_s, session, holder),
            )
            return cursor.rowcount == 1

    def release(self, session: str, holder: str) -> None:
        with self._lock:
            self._connection.execute(
                f"DELETE FROM {LEASE_TABLE} WHERE session = ? AND holder = ?", (session, holder)
            )

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class PostgresLeases(SessionLeases):
    """Leases in the PostgreSQL checkpoint database, on the checkpointer's connection pool.

    The table is created with the checkpoint tables (``create_lease_table``, under the set-up lock).
    """

    def __init__(self, pool: Any, *, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._pool = pool

    def acquire(self, session: str, holder: str, owner: str) -> LeaseInfo | None:
        with self._pool.connection() as connection, connection.transaction():
            connection.execute(_upsert(_PG_NOW, "%s"), (session, holder, owner, self.ttl_s))
            row = connection.execute(
                f"SELECT holder, owner, expires_at - {_PG_NOW} AS left FROM {LEASE_TABLE} WHERE session = %s",
                (session,),
            ).fetchone()
        return _info(None if row is None else (row["holder"], row["owner"], row["left"]), holder)

    def renew(self, session: str, holder: str) -> bool:
        with self._pool.connection() as connection:
            cursor = connection.execute(
                f"UPDATE {LEASE_TABLE} SET expires_at = {_PG_NOW} + %s WHERE session = %s AND holder = %s",
                (self.ttl_s, session, holder),
            )
            return cursor.rowcount == 1

    def release(self, session: str, holder: str) -> None:
        with self._pool.connection() as connection:
            connection.execute(
                f"DELETE FROM {LEASE_TABLE} WHERE session = %s AND holder = %s", (session, holder)
            )
