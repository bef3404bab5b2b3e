"""The session checkpointer: SQLite in the data directory, in-memory, or PostgreSQL for many processes.

A checkpointer is a factory ``open(config: ReactorConfig, **options) -> (saver, close, leases)``
returning a LangGraph ``BaseCheckpointSaver``, a function that releases what it holds, and the
:class:`~orchestrator.storage.leases.SessionLeases` that keep one writer per session across
processes (a factory may return only ``(saver, close)``: its sessions are then guarded within one
process only). The built-ins below are registered as entry points (``mm_reactor.checkpointers``)
exactly as a plugin registers its own; the config names one by name or gives
``{class: package.module:open_it, options: {...}}`` (docs/extending-checkpointers.md).
:func:`open_checkpointer` wraps the saver so every storage failure is a ``StorageError`` and every
checkpoint write confirms its session's lease.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from extensions import CHECKPOINTERS, ExtensionNotFound, ExtensionRef, resolve
from extensions.lookup import check_options
from orchestrator.config import ReactorConfig
from orchestrator.errors import ConfigError
from orchestrator.storage.guarded import GuardedSaver
from orchestrator.storage.leases import DEFAULT_TTL_S, InProcessLeases, LeaseKeeper, SessionLeases
from orchestrator.storage.sql_leases import PostgresLeases, SqliteLeases, create_lease_table
from orchestrator.storage.sqlite_file import open_database

__all__ = [
    "POSTGRES_URL_ENV",
    "Checkpointer",
    "open_checkpointer",
    "open_memory",
    "open_postgres",
    "open_sqlite",
    "redact_url",
]

log = logging.getLogger(__name__)

POSTGRES_URL_ENV = "MM_REACTOR_POSTGRES_URL"
# Any fixed 64-bit number: serialises concurrent `setup()` (table creation, migrations) across processes.
_SETUP_LOCK_KEY = 0x6D6D_7265_6163_7472

Opened = tuple[BaseCheckpointSaver, Callable[[], None], SessionLeases]
"""What the built-in factories return: the saver, a function that closes it, the session leases."""


class Checkpointer(NamedTuple):
    """An open checkpointer, ready for the graph: ``saver`` reports failures as ``StorageError`` and
    fences writes by the session lease (``saver.inner`` is the factory's own saver); ``leases`` takes
    and renews sessions' leases for runs; ``close`` releases every connection and file."""

    saver: GuardedSaver
    close: Callable[[], None]
    leases: LeaseKeeper


def open_checkpointer(config: ReactorConfig) -> Checkpointer:
    """The configured checkpointer (``config.checkpointer``), opened."""
    setting = config.checkpointer
    label = setting.label if isinstance(setting, ExtensionRef) else str(setting)
    what = f"checkpointer {label if isinstance(setting, ExtensionRef) else repr(setting)}"
    try:
        factory, options = resolve(CHECKPOINTERS, setting)
        check_options(factory, (config,), options, what=what)
    except (ExtensionNotFound, TypeError) as err:
        raise ConfigError(str(err)) from err
    opened = factory(config, **options)
    if not (
        isinstance(opened, tuple)
        and len(opened) in (2, 3)
        and isinstance(opened[0], BaseCheckpointSaver)
        and callable(opened[1])
        and (len(opened) == 2 or isinstance(opened[2], SessionLeases))
    ):
        raise ConfigError(
            f"{what} returned {type(opened).__name__}, not (saver, close) or (saver, close, leases): "
            "return a LangGraph BaseCheckpointSaver, a function that closes it and, to keep one writer "
            "per session across processes, an orchestrator.storage.leases.SessionLeases"
        )
    saver, close_saver = opened[0], opened[1]
    if len(opened) == 3:
        leases = opened[2]
    else:
        log.warning(
            "%s returns no session leases: sessions are guarded within this process only, so two "
            "orchestrator processes sharing its store could run turns of one session at once "
            "(return (saver, close, leases); see docs/extending-checkpointers.md)",
            what,
        )
        leases = InProcessLeases()
    keeper = LeaseKeeper(leases, where=_where(saver, label))

    def close() -> None:
        try:
            keeper.close()
        finally:
            close_saver()

    return Checkpointer(GuardedSaver(saver, where=keeper.where, keeper=keeper), close, keeper)


def _where(saver: BaseCheckpointSaver, label: str) -> str:
    """Where a saver keeps its checkpoints, for messages: a file, a redacted URL, or its name."""
    if isinstance(saver, SqliteSaver):
        for _, name, file in saver.conn.execute("PRAGMA database_list"):
            if name == "main" and file:
                return str(file)
    conninfo = getattr(getattr(saver, "conn", None), "conninfo", None)
    if isinstance(conninfo, str) and conninfo:
        return redact_url(conninfo)
    if isinstance(saver, InMemorySaver):
        return "the in-memory checkpointer"
    return f"the {label} checkpointer"


def open_memory(config: ReactorConfig, *, lease_ttl_s: float = DEFAULT_TTL_S) -> Opened:
    """``memory``: checkpoints in this process only (tests, throw-away sessions)."""
    return InMemorySaver(), lambda: None, InProcessLeases(lease_ttl_s)


def open_sqlite(
    config: ReactorConfig, *, path: str | None = None, lease_ttl_s: float = DEFAULT_TTL_S
) -> Opened:
    """``sqlite``: one SQLite file, ``<data_dir>/sessions.sqlite`` unless ``path`` says otherwise.

    Processes on one machine may share the file; an empty, damaged or foreign file is refused.
    ``lease_ttl_s``: how long a crashed run keeps its session locked (see ``leases.py``).
    """
    file = config.data_dir / "sessions.sqlite" if path is None else Path(path).expanduser()
    connection = open_database(file)
    try:
        leases = SqliteLeases(file, ttl_s=lease_ttl_s)
    except BaseException:
        connection.close()
        raise
    saver = SqliteSaver(connection)

    def close() -> None:
        with saver.lock:  # after the statement in flight, if any
            connection.close()

    return saver, close, leases


def open_postgres(
    config: ReactorConfig, *, url: str | None = None, lease_ttl_s: float = DEFAULT_TTL_S
) -> Opened:
    """``postgres``: at ``url``, else the config's ``postgres_url``, else ``$MM_REACTOR_POSTGRES_URL``."""
    configured = config.postgres_url.get_secret_value() if config.postgres_url else None
    return _open_postgres(url or configured or os.environ.get(POSTGRES_URL_ENV), lease_ttl_s)


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


def _open_postgres(url: str | None, lease_ttl_s: float) -> Opened:
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
                create_lease_table(connection.execute)
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
    # run; the saver serialises its own queries, so two connections are plenty, and one more for the
    # lease heartbeat.
    pool: ConnectionPool[psycopg.Connection[DictRow]] = ConnectionPool(
        url,
        connection_class=psycopg.Connection[DictRow],
        min_size=1,
        max_size=3,
        kwargs=kwargs,
        check=ConnectionPool.check_connection,
        open=True,
        name="mm-reactor-checkpoints",
    )
    return PostgresSaver(pool), pool.close, PostgresLeases(pool, ttl_s=lease_ttl_s)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
