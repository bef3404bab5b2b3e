"""A run's pixels in Ray's object store, and the writer that saves replica-made pixels to the store.

Pixels reach a replica by object reference. An input's pixels are put once per task from the
driver; an image or mask a replica made is already in the object store (the replica put it there),
so its reference is passed straight on to the next call and never travels back through the driver
on that path. The driver writes those pixels to the artifact store in the background
(:class:`ArtifactWriter`); the run waits for every write before it ends and reports failed writes.

A loop that runs inside a Ray actor (the HTTP service's ingress replica) cannot borrow references a
replica put: Ray frees such an object as soon as the replica's call returns, before the caller has
read it (``ReferenceCountingAssertionError`` — the borrow of a reference nested in a Serve reply is
not registered when the caller is an actor; the driver is not affected). There the calls ask for the
pixels inline (:attr:`PixelCache.inline`): they come back with the reply, the writer saves them from
memory, and the caller puts them (as their owner) only when a later call needs them.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import ray

from orchestrator.errors import StorageError
from orchestrator.storage.artifacts import ArtifactRecord, ArtifactStore

__all__ = ["ArtifactWriter", "PixelCache", "WriteFailure", "describe_failures", "inside_actor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteFailure:
    """Pixels a replica made that could not be saved to the artifact store."""

    artifact_id: str
    kind: str
    error: str


def describe_failures(failures: list[WriteFailure], table: dict[str, ArtifactRecord]) -> str:
    """What could not be saved, by handle, where and why, and what to do: the text of a run's failure."""
    parts = []
    for failure in failures:
        handles = [h for h, record in table.items() if record["id"] == failure.artifact_id]
        name = ", ".join(handles) or f"{failure.kind} {failure.artifact_id[:12]}"
        parts.append(f"{name}: {failure.error}")
    return "outputs could not be saved to the artifact store: " + " ".join(parts)


def _failure_text(error: BaseException) -> str:
    """A storage failure already names the store, the cause and what to do; anything else is described."""
    if isinstance(error, StorageError):
        return str(error)
    return (
        f"{type(error).__name__}: {error}. Check that the artifact store is reachable and writable, "
        "then run the task again."
    )


def inside_actor() -> bool:
    """Whether this process is a Ray actor (a Serve replica), whose borrowed references are unsafe."""
    return ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None


class ArtifactWriter:
    """Saves pixels from the object store into the artifact store on background threads.

    ``submit`` returns at once; ``wait(id)`` waits for one artifact, ``flush()`` for all of them
    and returns the failures not reported yet. Each artifact is written once (content-addressed).
    """

    def __init__(self, store: ArtifactStore, workers: int = 2) -> None:
        self._store = store
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._writes: dict[str, tuple[str, Future[None]]] = {}
        self._reported: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, kind: str, artifact_id: str, ref: ray.ObjectRef | np.ndarray) -> None:
        """Write the pixels behind ``ref`` (or the pixels themselves) as artifact ``artifact_id`` of ``kind``
        (in the background)."""
        with self._lock:
            if artifact_id in self._writes:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="artifact-writer")
            self._writes[artifact_id] = (kind, self._pool.submit(self._write, kind, artifact_id, ref))

    def _write(self, kind: str, artifact_id: str, ref: ray.ObjectRef | np.ndarray) -> None:
        stored, _, _ = self._store.put(kind, ref if isinstance(ref, np.ndarray) else ray.get(ref))
        if stored != artifact_id:
            raise ValueError(
                f"the replica's content id {artifact_id[:12]} does not match its pixels ({stored[:12]})"
            )

    def wait(self, artifact_id: str) -> None:
        """Wait until artifact ``artifact_id`` is written (if it is being written); raise its error."""
        with self._lock:
            entry = self._writes.get(artifact_id)
        if entry is not None:
            entry[1].result()

    def flush(self) -> list[WriteFailure]:
        """Wait for every write so far; the failures among them not reported before."""
        with self._lock:
            writes = list(self._writes.items())
        failures = []
        for artifact_id, (kind, write) in writes:
            error = write.exception()
            if error is not None and artifact_id not in self._reported:
                self._reported.add(artifact_id)
                failures.append(WriteFailure(artifact_id, kind, _failure_text(error)))
        return failures

    def close(self) -> None:
        """Finish the writes in flight (unreported failures are logged) and stop the threads."""
        for failure in self.flush():
            log.error("artifact %s could not be saved: %s", failure.artifact_id[:12], failure.error)
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


class PixelCache:
    """A task's pixels in Ray's object store: put once per artifact from the driver, or adopted from
    the replica that made them (and then saved to the store by :attr:`writer`).

    ``puts`` counts driver-side puts, ``loads`` reads from the artifact store. ``inline``: replicas
    send new pixels with their reply rather than by reference (true inside a Ray actor, see the module
    notes; ``None`` decides so).
    """

    def __init__(
        self, store: ArtifactStore, writer: ArtifactWriter | None = None, *, inline: bool | None = None
    ) -> None:
        self._store = store
        self.writer = writer or ArtifactWriter(store)
        self.inline = inside_actor() if inline is None else inline
        self._arrays: dict[str, np.ndarray] = {}
        self._refs: dict[str, ray.ObjectRef] = {}
        self.puts = 0
        self.loads = 0

    def remember(self, artifact_id: str, array: np.ndarray) -> None:
        """Keep pixels already in memory (decoded inputs) to skip a store read."""
        self._arrays.setdefault(artifact_id, array)

    def adopt(self, kind: str, artifact_id: str, ref: ray.ObjectRef | np.ndarray) -> None:
        """Take pixels a replica put into the object store: later calls get ``ref`` as it is, and the
        writer saves them to the artifact store in the background. Pixels sent inline are kept in
        memory (put on first use) and saved from there."""
        if isinstance(ref, np.ndarray):
            self.remember(artifact_id, ref)
        else:
            self._refs.setdefault(artifact_id, ref)
        self.writer.submit(kind, artifact_id, ref)

    def forget(self, artifact_id: str) -> None:
        """Drop a reference whose object was lost; the next :meth:`ref` reads the store."""
        self._refs.pop(artifact_id, None)

    def ref(self, record: ArtifactRecord) -> ray.ObjectRef:
        """The object reference of the artifact's pixels, putting them on first use."""
        artifact_id = record["id"]
        if artifact_id not in self._refs:
            array = self._arrays.pop(artifact_id, None)
            if array is None:
                self.writer.wait(artifact_id)  # its bytes may still be on their way to the store
                array = self._store.load(record)
                self.loads += 1
            self._refs[artifact_id] = ray.put(array)
            self.puts += 1
        return self._refs[artifact_id]

    def close(self) -> None:
        """End of the run: finish the writes and let go of the references."""
        self.writer.close()
        self._refs.clear()
        self._arrays.clear()
