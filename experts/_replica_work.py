"""Run an expert's calls in threads a caller can walk away from, and tell when work is stuck.

Python cannot stop a thread. When a call's caller gives up (a timeout, a cancelled task), Serve
cancels the replica's coroutine, but the expert's thread runs on. Here such abandoned work stops
counting against the replica's capacity, so the next calls still run; and :meth:`CallRunner.stuck`
names work that has run longer than any caller waits, so the replica's health check can fail and
Serve replaces the replica (which ends the threads with the process).

An expert that is not thread-safe runs one call at a time: its turn passes to the next call only
when the thread has really finished, never while an abandoned call still runs.
Ray-free: the replica (``experts/deployment.py``) uses it; tests drive it with plain asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["CallRunner", "default_capacity"]

T = TypeVar("T")
R = TypeVar("R")


def default_capacity() -> int:
    """How many calls run at once on a thread-safe replica: asyncio's default executor's size."""
    return min(32, (os.cpu_count() or 1) + 4)


@dataclass(eq=False)
class _Work:
    started: float
    abandoned: bool = False


class CallRunner:
    """Runs ``fn(arg)`` in a fresh daemon thread per call; see the module docstring.

    ``serial``: one call at a time (an expert that is not thread-safe). ``limit_s``: work running
    longer than this is stuck. ``capacity``: calls whose callers still wait that may run at once.
    """

    def __init__(self, *, serial: bool, limit_s: float, capacity: int | None = None) -> None:
        self.limit_s = limit_s
        self._serial = asyncio.Lock() if serial else None
        self._slots = asyncio.Semaphore(capacity or default_capacity())
        self._running: set[_Work] = set()

    async def run(self, fn: Callable[[T], R], arg: T) -> R:
        """``fn(arg)`` in a thread; cancelling the caller abandons the work (its thread runs on)."""
        if self._serial is not None:
            await self._serial.acquire()
        try:
            await self._slots.acquire()
        except BaseException:
            if self._serial is not None:
                self._serial.release()
            raise
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        work = _Work(time.monotonic())
        self._running.add(work)

        def finished(result: Any, error: BaseException | None) -> None:
            self._running.discard(work)
            if not work.abandoned:
                self._slots.release()
            if self._serial is not None:
                self._serial.release()  # only now: the expert is free again
            if not done.done():
                if error is None:
                    done.set_result(result)
                else:
                    done.set_exception(error)

        def target() -> None:
            try:
                outcome: tuple[Any, BaseException | None] = (fn(arg), None)
            except BaseException as err:  # handed to the caller, which re-raises it
                outcome = (None, err)
            with contextlib.suppress(RuntimeError):  # the loop closed: the replica is stopping
                loop.call_soon_threadsafe(finished, *outcome)

        threading.Thread(target=target, name=f"expert-call-{id(work):x}", daemon=True).start()
        try:
            return await done
        except asyncio.CancelledError:
            if not work.abandoned and work in self._running:
                work.abandoned = True
                self._slots.release()  # the caller is gone: this work no longer holds a slot
            raise

    @property
    def running(self) -> int:
        """Calls whose threads are running, abandoned ones included."""
        return len(self._running)

    def stuck(self) -> list[float]:
        """How long each call running past ``limit_s`` has run (seconds), longest first."""
        now = time.monotonic()
        return sorted(
            (now - w.started for w in self._running if now - w.started > self.limit_s), reverse=True
        )
