"""The state each session's last run ended with, kept so the next run starts without reading it back.

Reading a session back from the checkpointer replays its history (LangGraph rebuilds the delta
channels from their last snapshot); the run that just ended has that state in hand already. A
kept state is used only while it is still the session's latest checkpoint (one row read), so a
run by another process, an ``update_state`` or a fork is always read back in full.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

__all__ = ["RecentStates"]


class RecentStates:
    """The last finished state of the most recently used sessions (at most ``size`` of them)."""

    def __init__(self, saver: Any, size: int = 16) -> None:
        self._saver: BaseCheckpointSaver | None = saver if isinstance(saver, BaseCheckpointSaver) else None
        self._size = size
        self._states: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def _latest_id(self, thread: RunnableConfig) -> str | None:
        if self._saver is None:
            return None
        latest = self._saver.get_tuple(thread)
        return None if latest is None else str(latest.checkpoint["id"])

    def keep(self, session: str, checkpoint_id: str, values: dict[str, Any]) -> None:
        """Keep ``values``, the state of checkpoint ``checkpoint_id`` that a finished run of ``session``
        ended with."""
        if self._saver is None:
            return
        with self._lock:
            self._states[session] = (checkpoint_id, values)
            self._states.move_to_end(session)
            while len(self._states) > self._size:
                self._states.popitem(last=False)

    def get(self, session: str, thread: RunnableConfig) -> dict[str, Any] | None:
        """The kept state of ``session`` if it is still the latest checkpoint, else None."""
        with self._lock:
            kept = self._states.get(session)
        if kept is None:
            return None
        if self._latest_id(thread) != kept[0]:
            self.forget(session)
            return None
        return kept[1]

    def forget(self, session: str) -> None:
        with self._lock:
            self._states.pop(session, None)
