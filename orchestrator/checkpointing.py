"""The session checkpointer: SQLite in the data directory, in-memory, or PostgreSQL for many processes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from orchestrator.config import ReactorConfig
from orchestrator.errors import ConfigError

__all__ = ["open_checkpointer"]


def open_checkpointer(config: ReactorConfig) -> tuple[BaseCheckpointSaver, Callable[[], None]]:
    """The configured checkpointer and a function that closes it."""
    if config.checkpointer == "memory":
        return InMemorySaver(), lambda: None
    if config.checkpointer == "sqlite":
        config.data_dir.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(config.data_dir / "sessions.sqlite", check_same_thread=False)
        # WAL + synchronous=NORMAL: a committed checkpoint survives a killed process; only an OS
        # crash can lose the last few, and each commit no longer waits for an fsync.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return SqliteSaver(connection), connection.close
    raise ConfigError(f"checkpointer {config.checkpointer!r} is not available yet")
