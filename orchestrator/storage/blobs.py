"""Where artifact bytes live: the :class:`ByteStore` interface and the two built-in stores.

The artifact store (``artifacts.py``) encodes, hashes and names artifacts; a byte store only keeps
the bytes under those names (``ab/abcd….png``). Built in: :class:`LocalDirectory` (a local or
mounted directory) and :class:`FsspecStore` (``s3://``, ``gs://``, ``memory://`` …). Others are
registered as entry points in ``mm_reactor.artifact_stores`` or given by class path in the
config (docs/extending-artifact-stores.md).
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from orchestrator.errors import ConfigError

__all__ = ["ByteStore", "FsspecStore", "LocalDirectory", "byte_store_for"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Object stores write a whole object in one request, visible all at once or not at all.
_ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory", "oss", "r2"}


class ByteStore(ABC):
    """Keeps artifact bytes under keys like ``ab/abcd….png``; every orchestrator of a deployment shares one.

    Keys are content addressed: a key always holds the same bytes, so ``write`` may skip a key that
    exists, and two processes writing one key at once is harmless as long as a reader never sees
    half an object.
    """

    url: str
    """Where the bytes are, for people and messages (``file:///…``, ``s3://bucket/prefix``)."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (atomically: readers see all of it or nothing)."""

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The bytes under ``key``; raise FileNotFoundError when there are none."""

    def url_of(self, key: str) -> str:
        """The URL of ``key``'s bytes."""
        return f"{self.url}/{key}"

    def local_path(self, key: str) -> Path | None:
        """Where ``key``'s bytes are on local disk, or None when they are not in a local directory."""
        return None


class LocalDirectory(ByteStore):
    """A local (or mounted, shared) directory; ``root`` may be a path or a ``file://`` URL."""

    def __init__(self, root: str | Path) -> None:
        if isinstance(root, str) and root.startswith("file://"):
            root = url2pathname(urlsplit(root).path)
        self.root = Path(root).expanduser()
        self.url = self.root.absolute().as_uri()

    def write(self, key: str, data: bytes) -> None:
        """Write once; temp file + rename so a reader never sees half a file."""
        path = self.root / key
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def url_of(self, key: str) -> str:
        return (self.root / key).absolute().as_uri()

    def local_path(self, key: str) -> Path:
        return self.root / key


class FsspecStore(ByteStore):
    """Any filesystem fsspec knows by URL: ``s3://bucket/prefix`` (s3fs), ``gs://`` (gcsfs), ``memory://``."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        try:
            from fsspec.core import url_to_fs

            self._fs, path = url_to_fs(self.url)
        except ImportError as err:
            raise ConfigError(
                f"artifact store {self.url}: {err}. Install the fsspec backend for this URL scheme "
                "(s3fs for s3://, gcsfs for gs://, adlfs for az://) or use a local directory"
            ) from err
        except ValueError as err:
            raise ConfigError(f"artifact store {self.url} is not a usable fsspec URL: {err}") from err
        self._root = str(path).rstrip("/")

    def write(self, key: str, data: bytes) -> None:
        path = f"{self._root}/{key}"
        if self._fs.exists(path):
            return
        parent = path.rsplit("/", 1)[0]
        self._fs.makedirs(parent, exist_ok=True)
        protocol: Any = self._fs.protocol
        protocols = {protocol} if isinstance(protocol, str) else set(protocol)
        if protocols & _ATOMIC_PUT:
            self._fs.pipe_file(path, data)
            return
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        self._fs.pipe_file(tmp, data)
        self._fs.mv(tmp, path)

    def read(self, key: str) -> bytes:
        return bytes(self._fs.cat_file(f"{self._root}/{key}"))


def byte_store_for(location: str | Path) -> ByteStore:
    """The built-in store for a directory, a ``file://`` URL or an fsspec URL."""
    if isinstance(location, str) and _URL.match(location) and not location.startswith("file://"):
        return FsspecStore(location)
    return LocalDirectory(location)
