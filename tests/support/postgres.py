"""A real, throw-away PostgreSQL server for the tests (pytest plugin: the ``postgres_url`` fixture).

It finds ``initdb``/``pg_ctl`` (PATH or ``/usr/lib/postgresql/*/bin``), installs Debian's
``postgresql`` package through ``.ci/install-postgres`` when they are missing and we may (root and
``CI`` or ``MM_REACTOR_INSTALL_POSTGRES=1``), else skips with how to install them. The server runs
on a temporary data directory and a free loopback port, as the ``postgres`` user when we are root
(the server refuses to run as root), and stops when the test session ends.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "find_postgres_bin", "postgres_url"]

REPO = Path(__file__).resolve().parents[2]
INSTALL_HINT = (
    "install Debian's postgresql package (apt-get install -y postgresql, or run .ci/install-postgres "
    "as root), or set MM_REACTOR_INSTALL_POSTGRES=1 when running the tests as root to install it"
)


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: from PATH, else the newest Debian install."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]), reverse=True
    )
    return Path(candidates[0]).parent if candidates else None


def _may_install() -> bool:
    return os.geteuid() == 0 and bool(os.environ.get("CI") or os.environ.get("MM_REACTOR_INSTALL_POSTGRES"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One server on a private data directory; :meth:`start` and :meth:`stop` it."""

    def __init__(self, bin_dir: Path, database: str = "mmr_test") -> None:
        self.bin_dir = bin_dir
        self.database = database
        self.port = _free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="mmr-pg-", dir="/tmp"))
        self._as_postgres = os.geteuid() == 0
        self.user = "postgres" if self._as_postgres else (os.environ.get("USER") or "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.data_dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}\n{tail}")

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.data_dir, "postgres", "postgres")
        self.data_dir.chmod(0o700)
        pgdata = str(self.data_dir / "pgdata")
        self._run("initdb", "-D", pgdata, "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-k {self.data_dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data_dir / "server.log")
        self._run("pg_ctl", "-D", pgdata, "-l", log, "-o", options, "-w", "-t", "60", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database)

    def stop(self) -> None:
        try:
            if (self.data_dir / "pgdata" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data_dir / "pgdata"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://…`` of a fresh database on a private server that lives for the test session."""
    pytest.importorskip(
        "langgraph.checkpoint.postgres",
        reason="the PostgreSQL checkpointer is not installed: pip install 'mm-reactor[postgres]'",
    )
    bin_dir = find_postgres_bin()
    if bin_dir is None and _may_install():
        subprocess.run([str(REPO / ".ci" / "install-postgres")], check=True, timeout=600)
        bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.skip(f"PostgreSQL server binaries (initdb, pg_ctl) are not installed: {INSTALL_HINT}")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root needs runuser to start PostgreSQL as the postgres user")
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except (RuntimeError, KeyError, LookupError, subprocess.TimeoutExpired) as err:
        server.stop()
        pytest.fail(f"could not start a PostgreSQL test server: {err}")
    try:
        yield server.url
    finally:
        server.stop()
