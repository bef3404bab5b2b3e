"""Content-addressed artifact store and the artifact records kept in session state.

An artifact's id is the SHA-256 of its kind, shape and bytes; its handle (``image-3``)
is what the controller says. Bytes live in a byte store (``blobs.py``: a local directory, an
fsspec URL shared by every orchestrator process, or a plugin) under ``<id[:2]>/<id>.<ext>``;
records (handle, kind, shape, producer step, parents) live in the LangGraph state.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
from PIL import Image

from experts._video_io import VideoFile
from experts.protocol import IMAGE_KINDS, PIXEL_KINDS, MapKind, content_id, pixel_content_id
from extensions import ARTIFACT_STORES, ExtensionNotFound, resolve
from extensions.lookup import check_options
from orchestrator.config import ReactorConfig
from orchestrator.errors import ConfigError, StorageError
from orchestrator.storage.blobs import ByteStore, LocalDirectory, byte_store_for
from orchestrator.storage.faults import storage_error

__all__ = [
    "ArtifactKind",
    "ArtifactRecord",
    "ArtifactStore",
    "artifact_uri",
    "next_handle",
    "open_artifact_store",
]

ArtifactKind = Literal["image", "mask", "boxes", "text", "video"] | MapKind
_EXT = {"boxes": "json", "text": "json", "video": "bin"} | dict.fromkeys(PIXEL_KINDS, "png")


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
    """Artifact bytes addressed by content, kept in a :class:`~orchestrator.storage.blobs.ByteStore`.

    ``root`` is a directory (``~/.mm-reactor/artifacts``, a mounted shared filesystem, or a
    ``file://`` URL of one), an fsspec URL (``s3://bucket/prefix``, ``gs://…``, ``memory://…``)
    that every orchestrator process of a deployment shares, or a byte store object (a registered
    or custom one). Records keep only the relative ``uri`` (``ab/abcd….png``), so the same session
    state works against any root holding the same bytes.
    """

    def __init__(self, root: str | Path | ByteStore) -> None:
        self.bytes = root if isinstance(root, ByteStore) else byte_store_for(root)
        self.url: str = self.bytes.url
        self.root: Path | str = self.bytes.root if isinstance(self.bytes, LocalDirectory) else self.url

    @property
    def is_local(self) -> bool:
        """True when the bytes are in a local (or mounted) directory: :meth:`path_of` works."""
        return isinstance(self.bytes, LocalDirectory)

    def path_of(self, record: ArtifactRecord) -> Path:
        """Where the artifact's bytes are on disk (local roots only; see :meth:`url_of`)."""
        path = self.bytes.local_path(record["uri"])
        if path is None:
            raise ValueError(
                f"the artifact store at {self.url} is not a local directory: use url_of() for where "
                "an artifact lives and load() to read it"
            )
        return path

    def url_of(self, record: ArtifactRecord) -> str:
        """The artifact's URL (``file://…`` for a local root): readable by fsspec from any process."""
        return self.bytes.url_of(record["uri"])

    def put(self, kind: str, value: Any) -> tuple[str, list[int], str]:
        """Store ``value`` as an artifact of ``kind``; returns (id, shape, uri). Idempotent.

        Raises :class:`~orchestrator.errors.StorageError` (naming the store, the artifact and the
        cause) when the bytes cannot be written; ``ValueError`` when ``value`` is not of ``kind``."""
        payload, shape = _encode(kind, value)
        if kind not in PIXEL_KINDS:
            artifact_id = content_id(kind, shape, payload)
        else:
            artifact_id = pixel_content_id(kind, value)
        uri = artifact_uri(kind, artifact_id)
        try:
            self.bytes.write(uri, payload)
        except StorageError:
            raise
        except Exception as err:  # a full disk, no rights, an unreachable bucket, a failing plugin
            raise storage_error(f"cannot save {kind} artifact {uri} to", str(self.root), err) from err
        return artifact_id, shape, uri

    def read_bytes(self, record: ArtifactRecord) -> bytes:
        """The artifact's stored (encoded) bytes: PNG for images and masks, the file for a video, JSON
        otherwise."""
        try:
            return self.bytes.read(record["uri"])
        except FileNotFoundError:
            raise FileNotFoundError(
                f"artifact {record['handle']} ({record['id'][:12]}) is missing from the store at "
                f"{self.root}; was the data directory moved or cleaned, or does this process use a "
                "different artifact_store than the one that wrote it?"
            ) from None
        except StorageError:
            raise
        except Exception as err:
            action = f"cannot read artifact {record['handle']} ({record['uri']}) from"
            raise storage_error(action, str(self.root), err, reading=True) from err

    def load(self, record: ArtifactRecord) -> Any:
        """The artifact's value: an RGB or RGBA uint8 array (images, maps), a bool mask array, boxes, a
        text, or a video's encoded file (bytes)."""
        data = self.read_bytes(record)
        kind = record["kind"]
        if kind == "video":
            return data
        if kind in IMAGE_KINDS:
            with Image.open(io.BytesIO(data)) as img:
                return np.asarray(img if img.mode == "RGBA" else img.convert("RGB"))
        if kind == "mask":
            with Image.open(io.BytesIO(data)) as img:
                return np.asarray(img.convert("L")) > 127
        return json.loads(data)


def open_artifact_store(config: ReactorConfig) -> ArtifactStore:
    """The configured artifact store: ``artifact_store`` (a directory, a URL, a registered name or a
    class), or ``<data_dir>/artifacts``."""
    setting = config.artifact_store
    if setting is None:
        return ArtifactStore(config.data_dir / "artifacts")
    if isinstance(setting, str):
        return ArtifactStore(setting)
    what = f"artifact store {setting.label!r}"
    try:
        factory, options = resolve(ARTIFACT_STORES, setting)
        check_options(factory, (), options, what=what)
    except (ExtensionNotFound, TypeError) as err:
        raise ConfigError(str(err)) from err
    store = factory(**options)
    if not isinstance(store, ByteStore):
        raise ConfigError(
            f"{what} made a {type(store).__name__}, not a ByteStore: subclass "
            "orchestrator.storage.blobs.ByteStore and implement write() and read()"
        )
    return ArtifactStore(store)


def _encode(kind: str, value: Any) -> tuple[bytes, list[int]]:
    if kind in IMAGE_KINDS:  # images and condition maps
        array = np.asarray(value)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ValueError(
                f"a {kind} artifact must be HxWx3 uint8 (RGB) or HxWx4 uint8 (RGBA), "
                f"got {array.dtype} {array.shape}"
            )
        buffer = io.BytesIO()
        Image.fromarray(array, "RGB" if array.shape[2] == 3 else "RGBA").save(
            buffer, format="PNG", compress_level=1
        )
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
    if kind == "video":  # the encoded file as given; shape [width, height, frames, duration in ms]
        if not isinstance(value, VideoFile):
            raise ValueError(
                f"a video artifact must be a VideoFile (probed bytes), got {type(value).__name__}"
            )
        return value.data, value.info.shape
    raise ValueError(f"unknown artifact kind {kind!r}; use image, mask, boxes, text, video or a map kind")
