"""One writer per session, across processes: session leases kept beside the checkpoints.

A run takes its session's lease before it reads or writes anything, renews it while it is alive
(a heartbeat every third of the lease's time, and before every checkpoint it writes), and releases
it at its end. A second writer -- another process, or another orchestrator on the same database --
is refused with an :class:`~orchestrator.errors.InputError`. A holder that dies stops renewing, so
its lease expires after ``ttl_s`` and another process may take the session over (and resume it); on
the machine it ran on, a process that finds the holder's process gone takes the session over at once.

:class:`SessionLeases` is the interface a checkpointer implements (the third item a checkpointer
factory returns, see docs/extending-checkpointers.md); :class:`InProcessLeases` is the in-memory
twin. The SQL ones live in ``sql_leases.py``. :class:`LeaseKeeper` is this process's side.
"""

from __future__ import annotations

import logging
import os
import pathlib
import re
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.errors import InputError, StorageError
from orchestrator.storage.faults import storage_error

__all__ = [
    "DEFAULT_TTL_S",
    "HeldLease",
    "InProcessLeases",
    "LeaseInfo",
    "LeaseKeeper",
    "LeaseLost",
    "SessionLeases",
    "this_process",
]

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 30.0
"""How long a lease lasts unless renewed: a crashed holder locks its session for at most this long."""


def _pid_namespace() -> str:
    """This process's PID namespace (Linux), so a pid is compared only with pids of the same namespace."""
    try:
        return os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        return "?"


def this_process() -> str:
    """How a lease names its holder's process for people: ``pid 4242 on host-a (pidns 4026531836)``."""
    return f"pid {os.getpid()} on {socket.gethostname()} (pidns {_pid_namespace()})"


_OWNER = re.compile(r"^pid (\d+) on (.+) \(pidns (\d+)\)$")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this namespace still runs (a zombie, killed but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def gone_from_here(owner: str) -> bool:
    """Whether a lease's holder ran on this machine, in this PID namespace, and its process is gone: a
    crashed run whose session need not wait for the lease to expire."""
    match = _OWNER.match(owner)
    if match is None or match.group(2) != socket.gethostname() or match.group(3) != _pid_namespace():
        return False
    pid = int(match.group(1))
    return pid != os.getpid() and not _alive(pid)


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a session's lease: the holder's run id, its process, and how long the lease has left."""

    holder: str
    owner: str
    expires_in_s: float


class SessionLeases(ABC):
    """At most one holder per session at a time, until its lease expires.

    Implementations keep leases where every orchestrator process of a deployment sees them (the
    checkpoint database), decide with the store's own clock, and make :meth:`acquire` atomic.
    """

    ttl_s: float = DEFAULT_TTL_S

    @abstractmethod
    def acquire(self, session: str, holder: str, owner: str) -> LeaseInfo | None:
        """Take ``session`` for ``holder`` for ``ttl_s`` seconds: None when taken (or already
        ``holder``'s), else who holds it. An expired lease is taken over."""

    @abstractmethod
    def renew(self, session: str, holder: str) -> bool:
        """Extend ``holder``'s lease to ``ttl_s`` from now; False when the session is no longer
        ``holder``'s (it expired and another holder took it)."""

    @abstractmethod
    def release(self, session: str, holder: str) -> None:
        """Give ``session`` up if ``holder`` holds it (else do nothing)."""

    def close(self) -> None:  # noqa: B027 -- optional: most leases hold nothing to close
        """Let go of what the leases hold (connections); the default holds nothing."""


class InProcessLeases(SessionLeases):
    """Leases in this process's memory: the twin of the in-memory checkpointer."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._leases: dict[str, tuple[str, str, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, session: str, holder: str, owner: str) -> LeaseInfo | None:
        now = time.monotonic()
        with self._lock:
            current = self._leases.get(session)
            if current is not None and current[0] != holder and current[2] > now:
                return LeaseInfo(current[0], current[1], current[2] - now)
            self._leases[session] = (holder, owner, now + self.ttl_s)
            return None

    def renew(self, session: str, holder: str) -> bool:
        with self._lock:
            current = self._leases.get(session)
            if current is None or current[0] != holder:
                return False
            self._leases[session] = (holder, current[1], time.monotonic() + self.ttl_s)
            return True

    def release(self, session: str, holder: str) -> None:
        with self._lock:
            if self._leases.get(session, ("",))[0] == holder:
                del self._leases[session]


class LeaseLost(StorageError):
    """This process no longer holds the lease of the session it was writing: it writes nothing more."""


class HeldLease:
    """A session's lease held by one run: renewed by a heartbeat thread until :meth:`release`."""

    def __init__(self, keeper: LeaseKeeper, session: str, on_lost: Callable[[], None]) -> None:
        self.keeper, self.session, self.on_lost = keeper, session, on_lost
        self.holder = uuid.uuid4().hex
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{session[:24]}", daemon=True)

    def _beat(self) -> None:
        interval = self.keeper.leases.ttl_s / 3
        while not self._stop.wait(interval):
            try:
                held = self.keeper.leases.renew(self.session, self.holder)
            except Exception as err:  # a passing fault: try again at the next beat, before the lease ends
                log.warning("could not renew the lease of session %r: %s", self.session, err)
                continue
            if not held:
                self.mark_lost()
                return

    def mark_lost(self) -> None:
        """Another holder took the session over: stop the run (it writes nothing more)."""
        if not self.lost:
            self.lost = True
            log.error("session %r: this process lost its lease; stopping the run", self.session)
            self.on_lost()

    def lost_error(self) -> LeaseLost:
        ttl = self.keeper.leases.ttl_s
        return LeaseLost(
            f"this process lost the lease of session {self.session!r} in {self.keeper.where}: it was not "
            f"renewed for over {ttl:.0f} s (the process stalled or could not reach the database) and "
            "another process took the session over. This run stopped and wrote nothing more; see the "
            "session's state in that process",
            path=self.keeper.where,
            cause="session lease lost",
        )

    def release(self) -> None:
        """Stop renewing and give the session up (once; a lost lease is not ours to give up)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.keeper._forget(self)
        if self.lost:
            return
        try:
            self.keeper.leases.release(self.session, self.holder)
        except Exception as err:  # it expires on its own after ttl_s
            log.warning(
                "could not release the lease of session %r (it expires in %.0f s): %s",
                self.session,
                self.keeper.leases.ttl_s,
                err,
            )


class LeaseKeeper:
    """This process's side of a checkpointer's session leases: take one for a run (:meth:`hold`),
    check it before each checkpoint write (:meth:`confirm`)."""

    def __init__(self, leases: SessionLeases, *, where: str) -> None:
        self.leases = leases
        self.where = where
        self._held: dict[str, HeldLease] = {}
        self._lock = threading.Lock()

    def hold(self, session: str, on_lost: Callable[[], None]) -> HeldLease:
        """Take ``session``'s lease for a run and keep it renewed; raise :class:`InputError` when
        another run holds it, :class:`StorageError` when the lease store fails."""
        lease = HeldLease(self, session, on_lost)
        owner = this_process()
        try:
            current = self.leases.acquire(session, lease.holder, owner)
        except StorageError:
            raise
        except Exception as err:
            raise storage_error(f"cannot take the lease of session {session!r} in", self.where, err) from err
        if current is not None and gone_from_here(current.owner):
            log.warning(
                "session %r: the run holding its lease (%s) stopped without releasing it; taking it over",
                session,
                current.owner,
            )
            try:
                self.leases.release(session, current.holder)  # only that holder's lease, if still its
                current = self.leases.acquire(session, lease.holder, owner)
            except Exception as err:
                raise storage_error(
                    f"cannot take the lease of session {session!r} in", self.where, err
                ) from err
        if current is not None:
            where = "another orchestrator of this process" if current.owner == owner else "another process"
            raise InputError(
                f"session {session!r} is running a task in {where} ({current.owner}; its lease ends in "
                f"{max(current.expires_in_s, 0):.0f} s unless that run renews it); wait for it to finish, "
                "or use another session"
            )
        with self._lock:
            self._held[session] = lease
        lease._thread.start()
        return lease

    def confirm(self, session: str) -> None:
        """Before a checkpoint of ``session`` is written here: renew its lease, or raise
        :class:`LeaseLost` when another process took it over. Sessions not held by a run pass."""
        with self._lock:
            lease = self._held.get(session)
        if lease is None:
            return
        if not lease.lost:
            try:
                held = self.leases.renew(session, lease.holder)
            except StorageError:
                raise
            except Exception as err:
                action = f"cannot renew the lease of session {session!r} in"
                raise storage_error(action, self.where, err) from err
            if held:
                return
            lease.mark_lost()
        raise lease.lost_error()

    def _forget(self, lease: HeldLease) -> None:
        with self._lock:
            if self._held.get(lease.session) is lease:
                del self._held[lease.session]

    def close(self) -> None:
        """Release every lease still held (runs cut short) and close the lease store."""
        with self._lock:
            held = list(self._held.values())
        for lease in held:
            lease.release()
        self.leases.close()
