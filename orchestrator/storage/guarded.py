"""The saver the graph writes through: any checkpointer's saver, with its failures reported as one
:class:`~orchestrator.errors.StorageError` and its writes fenced by the session lease.

Whatever the backend raises (``sqlite3.OperationalError: database or disk is full``, a psycopg
error, a checkpoint that no longer decodes) becomes a ``StorageError`` naming the database and the
session. Before a checkpoint or a step's results are written, the lease of the session is renewed
(:meth:`LeaseKeeper.confirm`): a process that lost its session to another writes nothing more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)

from orchestrator.errors import StorageError
from orchestrator.storage.faults import storage_error
from orchestrator.storage.leases import LeaseKeeper

__all__ = ["GuardedSaver"]


def _session(config: RunnableConfig | None) -> str:
    return str(((config or {}).get("configurable") or {}).get("thread_id", "?"))


class GuardedSaver(BaseCheckpointSaver):
    """Wraps ``inner`` (the checkpointer factory's own saver); ``where`` names its store for people."""

    def __init__(self, inner: BaseCheckpointSaver, *, where: str, keeper: LeaseKeeper | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.serde = inner.serde
        self.where = where
        self.keeper = keeper

    def _fail(
        self, action: str, config: RunnableConfig | None, err: Exception, *, reading: bool
    ) -> StorageError:
        if isinstance(err, StorageError):
            return err
        what = f"{action} of session {_session(config)!r} in"
        return storage_error(what, self.where, err, reading=reading)

    def _confirm(self, config: RunnableConfig) -> None:
        if self.keeper is not None:
            self.keeper.confirm(_session(config))

    @property
    def config_specs(self) -> list:
        return self.inner.config_specs

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.inner.get_next_version(current, channel)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> BaseCheckpointSaver:
        inner = self.inner.with_allowlist(extra_allowlist)
        return self if inner is self.inner else GuardedSaver(inner, where=self.where, keeper=self.keeper)

    # -- reads ----------------------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        try:
            return self.inner.get_tuple(config)
        except Exception as err:
            raise self._fail("cannot read the checkpoint", config, err, reading=True) from err

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        try:
            yield from self.inner.list(config, filter=filter, before=before, limit=limit)
        except Exception as err:
            raise self._fail("cannot read the checkpoints", config, err, reading=True) from err

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        try:
            return self.inner.get_delta_channel_history(config=config, channels=channels)
        except Exception as err:
            raise self._fail("cannot read the history", config, err, reading=True) from err

    # -- writes ---------------------------------------------------------------------------------------
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._confirm(config)
        try:
            return self.inner.put(config, checkpoint, metadata, new_versions)
        except Exception as err:
            raise self._fail("cannot write a checkpoint", config, err, reading=False) from err

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self._confirm(config)
        try:
            self.inner.put_writes(config, writes, task_id, task_path)
        except Exception as err:
            raise self._fail("cannot write the step results", config, err, reading=False) from err

    def delete_thread(self, thread_id: str) -> None:
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        try:
            self.inner.delete_thread(thread_id)
        except Exception as err:
            raise self._fail("cannot delete the checkpoints", config, err, reading=False) from err

    # -- async (the SDK drives graphs synchronously; these keep the saver whole for other callers) ------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        try:
            return await self.inner.aget_tuple(config)
        except Exception as err:
            raise self._fail("cannot read the checkpoint", config, err, reading=True) from err

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        try:
            async for item in self.inner.alist(config, filter=filter, before=before, limit=limit):
                yield item
        except Exception as err:
            raise self._fail("cannot read the checkpoints", config, err, reading=True) from err

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        try:
            return await self.inner.aget_delta_channel_history(config=config, channels=channels)
        except Exception as err:
            raise self._fail("cannot read the history", config, err, reading=True) from err

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._confirm(config)
        try:
            return await self.inner.aput(config, checkpoint, metadata, new_versions)
        except Exception as err:
            raise self._fail("cannot write a checkpoint", config, err, reading=False) from err

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self._confirm(config)
        try:
            await self.inner.aput_writes(config, writes, task_id, task_path)
        except Exception as err:
            raise self._fail("cannot write the step results", config, err, reading=False) from err
