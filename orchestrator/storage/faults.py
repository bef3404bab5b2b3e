"""Storage failures as one error: :class:`~orchestrator.errors.StorageError`, naming where and why.

Every store (artifact bytes, checkpoint databases) reports its failures through
:func:`storage_error`, which says what was being done, where, what the store said, and what a
person can do about it (free space, restore a backup, move a damaged file aside, start the server).
"""

from __future__ import annotations

import errno
import sqlite3

from orchestrator.errors import StorageError

__all__ = ["DAMAGED_TODO", "cause_of", "exhausted", "storage_error"]

DAMAGED_TODO = (
    "Restore the file from a backup, or move it aside (the next start makes a new, empty one: the "
    "sessions in it are then no longer available)"
)
_EXHAUSTED = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file-size limit is reached",
}
_DAMAGED = ("malformed", "not a database", "file is encrypted", "corrupt")


def exhausted(err: BaseException) -> str | None:
    """What ran out when ``err`` (or what caused it) is a full disk, quota or file-size limit; else None."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _EXHAUSTED:
            return _EXHAUSTED[seen.errno]
        if isinstance(seen, sqlite3.Error) and "full" in str(seen):
            return "the disk is full"
        if type(seen).__name__ == "DiskFull":  # psycopg.errors.DiskFull (SQLSTATE 53100)
            return "the database server's disk is full"
        seen = seen.__cause__ or seen.__context__
    return None


def cause_of(err: BaseException, *, reading: bool = False) -> tuple[str, str]:
    """What went wrong, in words with the store's own text, and what a person can do about it.

    ``reading``: a value error while reading means a damaged record; while writing, a value the
    store cannot hold.
    """
    said = f"{type(err).__module__}.{type(err).__name__}: {str(err).strip().rstrip('.') or 'no message'}"
    said = said.removeprefix("builtins.")
    text = str(err).lower()
    ran_out = exhausted(err)
    if ran_out:
        return f"{ran_out} ({said})", "Free space on that disk (or raise the limit), then run the task again"
    if isinstance(err, PermissionError) or "readonly" in text or "read-only" in text:
        return f"permission denied ({said})", "Give this process write access to it, then run the task again"
    if isinstance(err, sqlite3.DatabaseError) and any(word in text for word in _DAMAGED):
        return f"the database file is damaged ({said})", DAMAGED_TODO
    if isinstance(err, sqlite3.OperationalError) and "locked" in text:
        return (
            f"the database stayed locked by another process ({said})",
            "Check for a process holding the database open in a long transaction, then try again",
        )
    if isinstance(err, (ValueError, UnicodeError, EOFError, TypeError)):
        if reading:
            return f"a stored record cannot be read ({said})", DAMAGED_TODO
        return f"the value cannot be stored ({said})", "Report this as a bug, with the task that caused it"
    if type(err).__module__.startswith("psycopg"):
        return (
            f"the database server failed ({said})",
            "Check that the PostgreSQL server is up and reachable, then try again",
        )
    return said, "Check the storage it names, then try again"


def storage_error(
    action: str, where: str, err: BaseException, *, reading: bool = False, todo: str | None = None
) -> StorageError:
    """A :class:`StorageError` for ``err``: ``<action> <where>: <cause>. <what to do>``."""
    cause, advice = cause_of(err, reading=reading)
    message = f"{action} {where}: {cause}. {todo or advice}"
    return StorageError(message if message.endswith(".") else message + ".", path=where, cause=cause)
