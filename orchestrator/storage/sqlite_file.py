"""The sessions database file: checked before use, created whole, never silently replaced.

An existing file must be an SQLite database (its header), whole (as long as its header says),
structurally sound (``PRAGMA quick_check``) and mm-reactor's (the checkpoint tables). An empty,
truncated, damaged or foreign file is refused with a :class:`StorageError` that names it and says
what to do. A missing file is made under a temporary name with its tables and linked into place in
one step, so a 0-byte ``sessions.sqlite`` only ever comes from damage, never from a half-made start.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from orchestrator.errors import StorageError
from orchestrator.storage.faults import DAMAGED_TODO, storage_error
from orchestrator.storage.sql_leases import create_lease_table

__all__ = ["BUSY_TIMEOUT_S", "open_database"]

BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another process's write to the same file before it fails."""
_MAGIC = b"SQLite format 3\x00"
_CHECKPOINT_COLUMNS = {"thread_id", "checkpoint_ns", "checkpoint_id", "parent_checkpoint_id", "checkpoint"}


def _refuse(path: Path, what: str, todo: str = DAMAGED_TODO) -> StorageError:
    return StorageError(
        f"the sessions database {path} {what}; it was not opened. {todo}.", path=str(path), cause=what
    )


def _check_header(path: Path) -> None:
    size = path.stat().st_size
    if size == 0:
        raise _refuse(path, "is empty (0 bytes): its sessions are gone from it")
    with path.open("rb") as handle:
        header = handle.read(100)
    if not header.startswith(_MAGIC):
        raise _refuse(path, "is not an SQLite database (it does not start with the SQLite header)")
    if len(header) < 100:
        raise _refuse(path, f"is truncated ({size} bytes, shorter than an SQLite header)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counter_matches = header[24:28] == header[92:96]  # the in-header size is valid only then
    if page_size < 512 or size % page_size or (counter_matches and size < pages * page_size):
        expected = f"; its header says {pages * page_size}" if counter_matches else ""
        raise _refuse(path, f"is truncated ({size} bytes{expected})")


def _check_contents(connection: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise _refuse(path, f"is damaged (quick_check: {'; '.join(problems)})")
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return  # a valid, empty database (made by hand): the checkpoint tables are added to it
    columns = {row[1] for row in connection.execute("PRAGMA table_info(checkpoints)")}
    if "writes" not in tables or not columns >= _CHECKPOINT_COLUMNS:
        listed = ", ".join(sorted(tables)[:8])
        raise _refuse(
            path,
            f"holds another program's tables ({listed}), not mm-reactor's checkpoints",
            "Point the checkpointer at another file (checkpointer: {name: sqlite, options: {path: ...}}), "
            "or move this one aside",
        )


def _create(path: Path) -> None:
    """Make the database under a temporary name, with its tables, and link it into place."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.new")
    try:
        connection = sqlite3.connect(temporary)
        try:
            SqliteSaver(connection).setup()  # WAL mode and the checkpoint tables
            create_lease_table(connection.execute)
            connection.commit()
        finally:
            connection.close()
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(temporary, path)
    finally:
        for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
            leftover.unlink(missing_ok=True)


def open_database(path: Path, *, timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection to the sessions database at ``path`` (WAL, synchronous=NORMAL), checked first;
    made when missing. Raises :class:`StorageError` naming the file when it cannot be used."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            _create(path)
        _check_header(path)
        connection = sqlite3.connect(path, check_same_thread=False, timeout=timeout_s)
    except StorageError:
        raise
    except (OSError, sqlite3.Error) as err:
        raise storage_error("cannot open the sessions database", str(path), err) from err
    try:
        _check_contents(connection, path)
        # WAL + synchronous=NORMAL: a committed checkpoint survives a killed process; only an OS
        # crash can lose the last few, and each commit no longer waits for an fsync.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
    except StorageError:
        connection.close()
        raise
    except sqlite3.Error as err:
        connection.close()
        raise storage_error("cannot open the sessions database", str(path), err, reading=True) from err
    return connection
