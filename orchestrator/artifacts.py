"""Content-addressed artifact store and the artifact records kept in session state.

An artifact's id is the SHA-256 of its kind, shape and bytes; its handle (``image-3``)
is what the controller says. Bytes live under ``<root>/<id[:2]>/<id>.<ext>``; records
(handle, kind, shape, producer step, parents) live in the LangGraph state.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
from PIL import Image

__all__ = ["ArtifactKind", "ArtifactRecord", "ArtifactStore", "next_handle"]

ArtifactKind = Literal["image", "mask", "boxes", "text"]
_EXT = {"image": "png", "mask": "png", "boxes": "json", "text": "json"}


class ArtifactRecord(TypedDict):
    """One row of a session's artifact table (plain data: it is checkpointed)."""

    handle: str
    id: str
    kind: str
    shape: list[int]
    producer_step: int
    producer: str
    parents: list[str]
    uri: str


def next_handle(table: dict[str, ArtifactRecord], kind: str, taken: set[str] | None = None) -> str:
    """The next free handle of ``kind`` in ``table`` (``image-1``, ``image-2`` …)."""
    used = set(table) | (taken or set())
    pattern = re.compile(rf"^{kind}-(\d+)$")
    highest = max((int(m.group(1)) for h in used if (m := pattern.match(h))), default=0)
    return f"{kind}-{highest + 1}"


class ArtifactStore:
    """Artifact bytes on a local (or shared, mounted) directory, addressed by content."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def _path(self, artifact_id: str, kind: str) -> Path:
        return self.root / artifact_id[:2] / f"{artifact_id}.{_EXT[kind]}"

    def path_of(self, record: ArtifactRecord) -> Path:
        """Where the artifact's bytes are on disk."""
        return self.root / record["uri"]

    def put(self, kind: str, value: Any) -> tuple[str, list[int], str]:
        """Store ``value`` as an artifact of ``kind``; returns (id, shape, uri). Idempotent."""
        payload, shape = _encode(kind, value)
        digest = hashlib.sha256()
        digest.update(f"{kind}:{shape}:".encode())
        digest.update(payload if kind in ("boxes", "text") else _raw_bytes(kind, value))
        artifact_id = digest.hexdigest()
        path = self._path(artifact_id, kind)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(tmp, path)
        return artifact_id, shape, str(path.relative_to(self.root))

    def load(self, record: ArtifactRecord) -> Any:
        """The artifact's value: an RGB uint8 array, a bool mask array, a list of boxes or a text."""
        path = self.path_of(record)
        if not path.exists():
            raise FileNotFoundError(
                f"artifact {record['handle']} ({record['id'][:12]}) is missing from the store at "
                f"{self.root}; "
                "was the data directory moved or cleaned?"
            )
        kind = record["kind"]
        if kind == "image":
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"))
        if kind == "mask":
            with Image.open(path) as img:
                return np.asarray(img.convert("L")) > 127
        return json.loads(path.read_text())


def _raw_bytes(kind: str, value: np.ndarray) -> bytes:
    return np.ascontiguousarray(value).tobytes()


def _encode(kind: str, value: Any) -> tuple[bytes, list[int]]:
    if kind == "image":
        array = np.asarray(value)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"an image artifact must be HxWx3 uint8, got {array.dtype} {array.shape}")
        buffer = io.BytesIO()
        Image.fromarray(array, "RGB").save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue(), [int(array.shape[1]), int(array.shape[0])]
    if kind == "mask":
        array = np.asarray(value)
        if array.ndim != 2:
            raise ValueError(f"a mask artifact must be HxW, got shape {array.shape}")
        buffer = io.BytesIO()
        Image.fromarray((array > 0).astype(np.uint8) * 255, "L").save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue(), [int(array.shape[1]), int(array.shape[0])]
    if kind == "boxes":
        items = list(value)
        return json.dumps(items, sort_keys=True).encode(), [len(items)]
    if kind == "text":
        text = str(value)
        return json.dumps(text).encode(), [len(text)]
    raise ValueError(f"unknown artifact kind {kind!r}; use image, mask, boxes or text")
