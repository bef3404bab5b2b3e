"""The session checkpointer: SQLite in the data directory, in-memory, or PostgreSQL for many processes.

A checkpointer is a factory ``open(config: ReactorConfig, **options) -> (saver, close)`` returning a
LangGraph ``BaseCheckpointSaver`` and a function that releases what it holds. The built-ins below
are registered as entry points (``mm_reactor.checkpointers``) exactly as a plugin registers its
own; the config names one by name or gives ``{class: package.module:open_it, options: {...}}``
(docs/extending-checkpointers.md).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from extensions import CHECKPOINTERS, ExtensionNotFound, ExtensionRef, resolve
from extensions.lookup import check_options
from orchestrator.config import ReactorConfig
from orchestrator.errors import ConfigError

__all__ = [
    "POSTGRES_URL_ENV",
    "Checkpointer",
    "open_checkpointer",
    "open_memory",
    "open_postgres",
    "open_sqlite",
    "redact_url",
]

POSTGRES_URL_ENV = "MM_REACTOR_POSTGRES_URL"
# Any fixed 64-bit number: serialises concurrent `setup()` (table creation, migrations) across processes.
_SETUP_LOCK_KEY = 0x6D6D_7265_6163_7472


Checkpointer = tuple[BaseCheckpointSaver, Callable[[], None]]
"""What a checkpointer factory returns: the saver, and a function that closes it."""


def open_checkpointer(config: ReactorConfig) -> Checkpointer:
    """The configured checkpointer (``config.checkpointer``) and a function that closes it."""
    setting = config.checkpointer
    what = f"checkpointer {setting.label if isinstance(setting, ExtensionRef) else setting!r}"
    try:
        factory, options = resolve(CHECKPOINTERS, setting)
        check_options(factory, (config,), options, what=what)
    except (ExtensionNotFound, TypeError) as err:
        raise ConfigError(str(err)) from err
    opened = factory(config, **options)
    if not (
        isinstance(opened, tuple)
        and len(opened) == 2
        and isinstance(opened[0], BaseCheckpointSaver)
        and callable(opened[1])
    ):
        raise ConfigError(
            f"{what} returned {type(opened).__name__}, not (saver, close): return a LangGraph "
            "BaseCheckpointSaver and a function that closes it"
        )
    return opened


def open_memory(config: ReactorConfig) -> Checkpointer:
    """``memory``: checkpoints in this process only (tests, throw-away sessions)."""
    return InMemorySaver(), lambda: None


def open_sqlite(config: ReactorConfig, *, path: str | None = None) -> Checkpointer:
    """``sqlite``: one SQLite file, ``<data_dir>/sessions.sqlite`` unless ``path`` says otherwise."""
    file = config.data_dir / "sessions.sqlite" if path is None else Path(path).expanduser()
    file.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(file, check_same_thread=False)
    # WAL + synchronous=NORMAL: a committed checkpoint survives a killed process; only an OS
    # crash can lose the last few, and each commit no longer waits for an fsync.
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return SqliteSaver(connection), connection.close


def open_postgres(config: ReactorConfig, *, url: str | None = None) -> Checkpointer:
    """``postgres``: at ``url``, else the config's ``postgres_url``, else ``$MM_REACTOR_POSTGRES_URL``."""
    configured = config.postgres_url.get_secret_value() if config.postgres_url else None
    return _open_postgres(url or configured or os.environ.get(POSTGRES_URL_ENV))


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for error messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _open_postgres(url: str | None) -> Checkpointer:
    """A PostgresSaver on a small connection pool, its tables created (once, under a lock)."""
    if not url:
        raise ConfigError(
            "checkpointer: postgres needs a database URL: set postgres_url in the config "
            f"(postgresql://user:password@host:5432/dbname) or the {POSTGRES_URL_ENV} environment variable"
        )
    try:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import DictRow, dict_row
        from psycopg_pool import ConnectionPool
    except ImportError as err:
        raise ConfigError(
            f"checkpointer: postgres needs packages that are not installed ({err.name}); "
            "install them with: pip install 'mm-reactor[postgres]' "
            "(langgraph-checkpoint-postgres and psycopg[binary])"
        ) from err
    # autocommit: every checkpoint write commits on its own; prepare_threshold=0: no server-side
    # prepared statements, so a pooler such as PgBouncer in transaction mode works too.
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    try:
        with psycopg.connect(url, connect_timeout=10, **kwargs) as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK_KEY,))
            try:
                PostgresSaver(connection).setup()
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))
    except psycopg.OperationalError as err:
        raise ConfigError(
            f"cannot reach the PostgreSQL checkpoint database at {redact_url(url)}: "
            f"{_first_line(err)}. Start the server (or fix the host, port, user, password and database "
            f"in postgres_url / {POSTGRES_URL_ENV}), or use checkpointer: sqlite for a single process"
        ) from err
    except psycopg.Error as err:
        raise ConfigError(
            f"the PostgreSQL database at {redact_url(url)} refused the checkpoint tables: "
            f"{_first_line(err)}. The user needs CREATE rights on the database's public schema"
        ) from err
    # A pool (not one connection) so a dropped connection is replaced instead of failing every later
    # run; the saver serialises its own queries, so two connections are plenty.
    pool: ConnectionPool[psycopg.Connection[DictRow]] = ConnectionPool(
        url,
        connection_class=psycopg.Connection[DictRow],
        min_size=1,
        max_size=2,
        kwargs=kwargs,
        check=ConnectionPool.check_connection,
        open=True,
        name="mm-reactor-checkpoints",
    )
    return PostgresSaver(pool), pool.close


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
