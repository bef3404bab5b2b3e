"""Taking a session back to an earlier checkpoint: what a turn that failed on storage wrote is removed.

LangGraph's saver interface has no "delete the checkpoints after this one", so this knows the
built-in savers' tables (SQLite, PostgreSQL, in-memory). Checkpoint ids are time-ordered (uuid6):
everything a turn wrote sorts after the checkpoint the session was at when the turn began.
Deleting frees space, so it works on a database that is full. Other savers are not taken back.
"""

from __future__ import annotations

import logging
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

__all__ = ["roll_back"]

log = logging.getLogger(__name__)


def roll_back(saver: BaseCheckpointSaver, session: str, head: str | None) -> bool:
    """Delete the checkpoints (and their pending writes) of ``session`` written after checkpoint
    ``head`` (all of them when ``head`` is None: the session was new). False when ``saver`` is not
    one this knows or the deletion failed (the session is then left as the failed turn left it)."""
    try:
        if isinstance(saver, SqliteSaver):
            _sqlite(saver, session, head)
        elif isinstance(saver, InMemorySaver):
            _memory(saver, session, head)
        elif type(saver).__name__ == "PostgresSaver":
            _postgres(saver, session, head)
        else:
            return False
    except Exception as err:
        log.warning("could not take session %r back to checkpoint %s: %s", session, head, err)
        return False
    return True


def _sqlite(saver: SqliteSaver, session: str, head: str | None) -> None:
    with saver.cursor() as cursor:
        for table in ("checkpoints", "writes"):
            cursor.execute(
                f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id > ?", (session, head or "")
            )


def _postgres(saver: Any, session: str, head: str | None) -> None:
    with saver._cursor() as cursor:  # the saver's own connection handling (pool or connection, its lock)
        for table in ("checkpoints", "checkpoint_writes"):
            cursor.execute(
                f"DELETE FROM {table} WHERE thread_id = %s AND checkpoint_id > %s", (session, head or "")
            )


def _memory(saver: InMemorySaver, session: str, head: str | None) -> None:
    for namespace in saver.storage.get(session, {}).values():
        for checkpoint_id in [c for c in namespace if c > (head or "")]:
            del namespace[checkpoint_id]
    for key in [k for k in saver.writes if k[0] == session and k[2] > (head or "")]:
        del saver.writes[key]
