"""Content-addressed artifact store and the artifact records kept in session state.

An artifact's id is the SHA-256 of its kind, shape and bytes; its handle (``image-3``)
is what the controller says. Bytes live under ``<root>/<id[:2]>/<id>.<ext>``, where root is a
local directory or an fsspec URL shared by every orchestrator process; records (handle, kind,
shape, producer step, parents) live in the LangGraph state.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any, Literal, TypedDict
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np
from PIL import Image

from experts.protocol import content_id, pixel_content_id
from orchestrator.errors import ConfigError

__all__ = ["ArtifactKind", "ArtifactRecord", "ArtifactStore", "artifact_uri", "next_handle"]

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


def artifact_uri(kind: str, artifact_id: str) -> str:
    """Where an artifact's bytes live under a store's root; content-addressed, so known before writing."""
    return f"{artifact_id[:2]}/{artifact_id}.{_EXT[kind]}"


class ArtifactStore:
    """Artifact bytes addressed by content, on a local directory or at an fsspec URL.

    ``root`` is a directory (``~/.mm-reactor/artifacts``, a mounted shared filesystem, or a
    ``file://`` URL of one) or an fsspec URL (``s3://bucket/prefix``, ``gs://…``, ``memory://…``)
    that every orchestrator process of a deployment shares. Records keep only the relative ``uri``
    (``ab/abcd….png``), so the same session state works against any root holding the same bytes.
    """

    def __init__(self, root: str | Path) -> None:
        self.url: str
        self.root: Path | str
        self._fs: Any = None
        if isinstance(root, str) and _URL.match(root) and not root.startswith("file://"):
            self.root = self.url = root.rstrip("/")
            self._fs, self._fs_root = _open_fs(self.root)
        else:
            if isinstance(root, str) and root.startswith("file://"):
                root = url2pathname(urlsplit(root).path)
            self.root = Path(root).expanduser()
            self.url = self.root.absolute().as_uri()

    @property
    def is_local(self) -> bool:
        """True when the bytes are in a local (or mounted) directory: :meth:`path_of` works."""
        return self._fs is None

    def path_of(self, record: ArtifactRecord) -> Path:
        """Where the artifact's bytes are on disk (local roots only; see :meth:`url_of`)."""
        if not isinstance(self.root, Path):
            raise ValueError(
                f"the artifact store at {self.root} is not a local directory: use url_of() for where "
                "an artifact lives and load() to read it"
            )
        return self.root / record["uri"]

    def url_of(self, record: ArtifactRecord) -> str:
        """The artifact's URL (``file://…`` for a local root): readable by fsspec from any process."""
        if isinstance(self.root, Path):
            return self.path_of(record).absolute().as_uri()
        return f"{self.url}/{record['uri']}"

    def put(self, kind: str, value: Any) -> tuple[str, list[int], str]:
        """Store ``value`` as an artifact of ``kind``; returns (id, shape, uri). Idempotent."""
        payload, shape = _encode(kind, value)
        if kind in ("boxes", "text"):
            artifact_id = content_id(kind, shape, payload)
        else:
            artifact_id = pixel_content_id(kind, value)
        uri = artifact_uri(kind, artifact_id)
        if isinstance(self.root, Path):
            _write_local(self.root / uri, payload)
        else:
            _write_fs(self._fs, f"{self._fs_root}/{uri}", payload)
        return artifact_id, shape, uri

    def read_bytes(self, record: ArtifactRecord) -> bytes:
        """The artifact's stored (encoded) bytes: PNG for images and masks, JSON otherwise."""
        try:
            if isinstance(self.root, Path):
                return self.path_of(record).read_bytes()
            return bytes(self._fs.cat_file(f"{self._fs_root}/{record['uri']}"))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"artifact {record['handle']} ({record['id'][:12]}) is missing from the store at "
                f"{self.root}; was the data directory moved or cleaned, or does this process use a "
                "different artifact_store than the one that wrote it?"
            ) from None

    def load(self, record: ArtifactRecord) -> Any:
        """The artifact's value: an RGB uint8 array, a bool mask array, a list of boxes or a text."""
        data = self.read_bytes(record)
        kind = record["kind"]
        if kind == "image":
            with Image.open(io.BytesIO(data)) as img:
                return np.asarray(img.convert("RGB"))
        if kind == "mask":
            with Image.open(io.BytesIO(data)) as img:
                return np.asarray(img.convert("L")) > 127
        return json.loads(data)


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Object stores write a whole object in one request, visible all at once or not at all.
_ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory", "oss", "r2"}


def _open_fs(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(url)
    except ImportError as err:
        raise ConfigError(
            f"artifact store {url}: {err}. Install the fsspec backend for this URL scheme "
            "(s3fs for s3://, gcsfs for gs://, adlfs for az://) or use a local directory"
        ) from err
    except ValueError as err:
        raise ConfigError(f"artifact store {url} is not a usable fsspec URL: {err}") from err
    return fs, str(path).rstrip("/")


def _write_local(path: Path, payload: bytes) -> None:
    """Write once; temp file + rename so a reader never sees half a file (content-addressed: no races)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_fs(fs: Any, path: str, payload: bytes) -> None:
    if fs.exists(path):
        return
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if protocols & _ATOMIC_PUT:
        fs.pipe_file(path, payload)
        return
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
    fs.pipe_file(tmp, payload)
    fs.mv(tmp, path)


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
