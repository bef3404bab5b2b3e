"""The wire between the orchestrator and an expert replica; Ray-free, so both sides can import it.

What the orchestrator sends: the call's arguments, with every artifact it names replaced by a
:class:`PixelRef` (handle, kind, content id and the object reference of its pixels in Ray's object
store). What a replica answers: a :class:`Reply` -- the output as plain data plus the
:class:`NewArtifact` s it produced (new pixels stay in the object store; the reply carries their
reference and content id), or a :class:`Failure` with a kind, a short message for the controller
and, for an expert's own bug, the traceback for the trace. Nothing else crosses the boundary.

Content ids are the artifact store's ids (SHA-256 of kind, size and bytes): a replica computes the
id of the pixels it makes, so the orchestrator knows where they will be stored before writing them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from experts._video import VideoData
from experts.base import BoxesData, ImageData, MaskData, NewBoxes, NewImage, NewMask, NewText, TextData
from experts.maps import MAP_KINDS, MapKind, NewMap

__all__ = [
    "IMAGE_KINDS",
    "MAP_KINDS",
    "PIXEL_KINDS",
    "ErrorKind",
    "Failure",
    "MapKind",
    "NewArtifact",
    "NewMap",
    "PixelRef",
    "Reply",
    "content_id",
    "format_validation_error",
    "pack_output",
    "pixel_content_id",
    "pixel_shape",
]

ErrorKind = Literal["arguments", "input", "expert", "timeout", "resource"]
"""Whose problem a failed call is:

- ``arguments``: the call itself is wrong (unknown expert or handle, arguments failing the schema);
- ``input``: the expert refused these inputs (:class:`~experts.base.ExpertError`), e.g. a box outside
  the image;
- ``expert``: the expert failed (a bug or a model failure); the traceback is kept;
- ``timeout``: no answer in the expert's time limit;
- ``resource``: the call could not be served: replica unreachable, an input's pixels lost from the
  object store.
"""

IMAGE_KINDS: tuple[str, ...] = ("image", *MAP_KINDS)
"""Kinds held as HxWx3 uint8 RGB pixels: images and condition maps."""
PIXEL_KINDS: tuple[str, ...] = (*IMAGE_KINDS, "mask")
"""Kinds whose pixels travel through Ray's object store (the others travel by value)."""


def content_id(kind: str, shape: Sequence[int], data: bytes | memoryview) -> str:
    """An artifact's id: SHA-256 of its kind, shape and bytes (raw pixels, or the stored JSON)."""
    digest = hashlib.sha256(f"{kind}:{[int(n) for n in shape]}:".encode())
    digest.update(data)
    return digest.hexdigest()


def pixel_shape(array: np.ndarray) -> list[int]:
    """``[width, height]`` of an image or mask array."""
    return [int(array.shape[1]), int(array.shape[0])]


def pixel_content_id(kind: str, array: np.ndarray) -> str:
    """The content id of an image or mask, from its raw pixels (no copy when already contiguous)."""
    pixels = np.ascontiguousarray(array)
    return content_id(kind, pixel_shape(pixels), pixels.data.cast("B"))


@dataclass(frozen=True)
class PixelRef:
    """An artifact sent to a replica: its handle, kind, content id and pixels in Ray's object store.

    ``ref`` is a ``ray.ObjectRef`` (typed loosely so this module stays Ray-free).
    """

    handle: str
    kind: str
    content_id: str
    ref: Any

    def data(self, value: Any) -> ImageData | MaskData | TextData | BoxesData | VideoData:
        """The expert-facing value once the object is fetched; the content id travels with it.

        An RGBA image reaches the expert as RGB composited onto black, its opacity in ``alpha``
        (see :class:`~experts.base.ImageData`), so every expert can read every image.
        """
        if self.kind == "video":  # the encoded file: frames are decoded in the replica, on demand
            return VideoData(self.handle, bytes(value), self.content_id)
        if self.kind == "text":
            return TextData(self.handle, str(value), self.content_id)
        if self.kind == "boxes":
            return BoxesData(self.handle, list(value), self.content_id)
        if self.kind == "mask":
            return MaskData(self.handle, value, self.content_id)
        if value.ndim == 3 and value.shape[2] == 4:
            alpha = np.ascontiguousarray(value[:, :, 3])
            rgb = (value[:, :, :3].astype(np.uint16) * alpha[:, :, None] + 127) // 255
            return ImageData(self.handle, rgb.astype(np.uint8), self.content_id, alpha=alpha)
        return ImageData(self.handle, value, self.content_id, self.kind)


class NewArtifact(BaseModel):
    """An artifact a call produced, at ``path`` in its output (``["masks", 0]``).

    Images and masks stay in Ray's object store: ``ref`` points at them and ``content_id`` is their
    id, computed by the replica (``ref`` holds the pixels themselves when the caller asked for them
    inline). Boxes and texts travel by ``value`` (the store computes their id).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    path: tuple[str | int, ...]
    kind: Literal["image", "mask", "boxes", "text"] | MapKind
    shape: list[int]
    summary: dict[str, Any]
    """What the controller reads about it besides its handle (size, mask area and bbox, box items, text)."""
    content_id: str | None = None
    ref: Any = None
    value: Any = None

    @model_validator(mode="after")
    def _carries_its_data(self) -> NewArtifact:
        if self.kind in PIXEL_KINDS and (self.ref is None or not self.content_id):
            raise ValueError(f"a new {self.kind} must carry its object reference and content id")
        if self.kind not in PIXEL_KINDS and self.value is None:
            raise ValueError(f"new {self.kind} must carry its value")
        return self


class Failure(BaseModel):
    """Why a call failed: ``message`` is what the controller reads; ``traceback`` is for the trace."""

    model_config = ConfigDict(frozen=True)

    kind: ErrorKind
    message: str
    traceback: str | None = None
    lost: list[str] = []
    """``resource`` failures: content ids of inputs whose pixels were gone from the object store."""


class Reply(BaseModel):
    """A replica's answer to one call: an output and its new artifacts, or a failure."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    replica: str
    seconds: float = 0.0
    output: dict[str, Any] | None = None
    """The expert's Output as plain data; where a new artifact goes, the value is ``None``."""
    artifacts: list[NewArtifact] = []
    error: Failure | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Reply:
        if (self.output is None) == (self.error is None):
            raise ValueError("a reply carries either an output or an error")
        return self

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, replica: str, kind: ErrorKind, message: str, **fields: Any) -> Reply:
        """A failure reply."""
        return cls(replica=replica, error=Failure(kind=kind, message=message, **fields))


def format_validation_error(tool: str, err: ValidationError, errors: list[Any] | None = None) -> str:
    """A short, controller-readable account of which arguments were wrong."""
    problems = []
    for item in (err.errors() if errors is None else errors)[:6]:
        where = ".".join(str(part) for part in item.get("loc", ())) or "(arguments)"
        message = item.get("msg", "invalid").removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return f"invalid arguments for {tool}: " + "; ".join(problems)


def _pixels(kind: str, array: Any) -> np.ndarray:
    """Check a produced image or map (HxWx3 uint8 RGB; an image may be HxWx4 RGBA) or mask (HxW; stored
    as bool)."""
    array = np.asarray(array)
    channels = (3, 4) if kind == "image" else (3,)
    if kind in IMAGE_KINDS and (array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in channels):
        shapes = "HxWx3 uint8 (RGB) or HxWx4 uint8 (RGBA)" if kind == "image" else "HxWx3 uint8"
        raise ValueError(f"a new {kind} must hold an {shapes} array, got {array.dtype} {array.shape}")
    if kind == "mask":
        if array.ndim != 2:
            raise ValueError(f"a NewMask must hold an HxW array, got shape {array.shape}")
        if array.dtype != np.bool_:
            array = array > 0
    return np.ascontiguousarray(array)


def _mask_summary(mask: np.ndarray, score: float | None) -> dict[str, Any]:
    ys, xs = mask.nonzero()
    summary: dict[str, Any] = {
        "area": len(xs),
        "bbox": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None,
    }
    if score is not None:
        summary["score"] = round(float(score), 4)
    return summary


def _plain(value: Any) -> Any:
    """JSON-able Python values from numpy scalars/arrays and tuples."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def pack_output(
    output: BaseModel, put: Callable[[np.ndarray], Any]
) -> tuple[dict[str, Any], list[NewArtifact]]:
    """An expert's Output as plain data plus its new artifacts; ``put`` stores pixels (``ray.put``).

    Raises ``ValueError`` for a malformed NewImage/NewMask (an expert bug).
    """
    artifacts: list[NewArtifact] = []

    def walk(value: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(value, (NewImage, NewMask, NewMap)):
            kind = value.kind
            array = _pixels(kind, value.array)
            shape = pixel_shape(array)
            summary: dict[str, Any] = {"size": shape}
            if kind == "image" and array.shape[2] == 4:
                summary["mode"] = "RGBA"  # transparent where the alpha channel is 0
            if isinstance(value, NewMask):
                summary |= _mask_summary(array, value.score)
            artifacts.append(
                NewArtifact(
                    path=path,
                    kind=kind,
                    shape=shape,
                    summary=summary,
                    content_id=pixel_content_id(kind, array),
                    ref=put(array),
                )
            )
            return None
        if isinstance(value, NewBoxes):
            items = _plain(list(value.items))
            artifacts.append(
                NewArtifact(
                    path=path,
                    kind="boxes",
                    shape=[len(items)],
                    summary={"count": len(items), "items": items},
                    value=items,
                )
            )
            return None
        if isinstance(value, NewText):
            text = str(value.text)
            artifacts.append(
                NewArtifact(path=path, kind="text", shape=[len(text)], summary={"text": text}, value=text)
            )
            return None
        if isinstance(value, BaseModel):
            return {name: walk(getattr(value, name), (*path, name)) for name in type(value).model_fields}
        if isinstance(value, dict):
            return {str(k): walk(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        return _plain(value)

    plain = walk(output, ())
    return plain, artifacts
