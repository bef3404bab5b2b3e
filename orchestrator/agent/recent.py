"""The state each session's last run stopped at, kept so the next run does not rebuild it.

LangGraph rebuilds a session's history channels (``state.py``: delta channels) by replaying the
writes stored since their last snapshot, each time a run starts or the state is read. The run
that just stopped had that state in hand, at a known checkpoint. :class:`RecentStates` keeps it,
per session, with the checkpoint's id, and

- hands it to LangGraph as the history's starting point when LangGraph reads exactly that
  checkpoint (the saver's ``get_delta_channel_history``): the next run, an approval, a resume;
- gives it to the runner while that checkpoint is still the session's latest (one row read).

A checkpoint's state never changes, so a kept state is never stale: a run by another process, an
``update_state`` or a fork makes a new checkpoint, and that one is read back in full.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, DeltaChannelHistory

__all__ = ["RecentStates"]


@dataclass(frozen=True)
class _Kept:
    checkpoint_id: str
    values: dict[str, Any]
    finished: bool


class RecentStates:
    """The last state of the most recently used sessions (at most ``size``), by checkpoint."""

    def __init__(self, saver: object, size: int = 16) -> None:
        self._saver = saver if isinstance(saver, BaseCheckpointSaver) else None
        self._size = size
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._lock = threading.Lock()
        if self._saver is not None:
            self._native = self._saver.get_delta_channel_history
            # On this saver object only (a saver that takes no attributes just gets no shortcut).
            with contextlib.suppress(AttributeError):
                setattr(self._saver, "get_delta_channel_history", self._history)  # noqa: B010

    def keep(self, session: str, checkpoint_id: str, values: dict[str, Any], *, finished: bool) -> None:
        """Keep ``values``, the state of ``session`` at checkpoint ``checkpoint_id`` where its run stopped
        (``finished``: nothing left to run; else it waits for approval)."""
        if self._saver is None:
            return
        with self._lock:
            self._kept[session] = _Kept(checkpoint_id, values, finished)
            self._kept.move_to_end(session)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def get(self, session: str, thread: RunnableConfig) -> dict[str, Any] | None:
        """The kept state of ``session`` if its run finished there and it is still the latest checkpoint."""
        found = self.latest(session, thread)
        return None if found is None else found[1]

    def latest(self, session: str, thread: RunnableConfig) -> tuple[str, dict[str, Any]] | None:
        """:meth:`get`, with the checkpoint's id."""
        with self._lock:
            kept = self._kept.get(session)
        if kept is None or not kept.finished or self._saver is None:
            return None
        latest = self._saver.get_tuple(thread)
        if latest is None or latest.checkpoint["id"] != kept.checkpoint_id:
            return None
        return kept.checkpoint_id, kept.values

    def forget(self, session: str) -> None:
        with self._lock:
            self._kept.pop(session, None)

    def _history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """The saver's ``get_delta_channel_history``, answered from a kept state when it is that
        checkpoint's (the kept value is the seed, with nothing to replay after it)."""
        configurable = config.get("configurable", {})
        with self._lock:
            kept = self._kept.get(str(configurable.get("thread_id")))
        if (
            kept is not None
            and not configurable.get("checkpoint_ns")
            and configurable.get("checkpoint_id") == kept.checkpoint_id
            and all(channel in kept.values for channel in channels)
        ):
            return {channel: {"writes": [], "seed": kept.values[channel]} for channel in channels}
        return self._native(config=config, channels=channels)
