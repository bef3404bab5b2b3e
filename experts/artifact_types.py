"""The artifacts experts take and make: handles, the data an expert receives, the wrappers it returns.

Images reach an expert as :class:`ImageData` (already decoded pixels), masks as :class:`MaskData`,
texts as :class:`TextData` and boxes artifacts as :class:`BoxesData`; an Input field names which with
:data:`ImageRef`, :data:`MaskRef`, :data:`TextRef`, :data:`BoxesRef` (or :func:`ref_validator` for a
field that takes several kinds), and the controller only ever writes a handle (``image-1``). New
artifacts are wrapped in :class:`NewImage`, :class:`NewMask`, :class:`NewBoxes`, :class:`NewText`
(condition maps: :mod:`experts.maps`). :mod:`experts.base` re-exports all of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import PlainValidator, WithJsonSchema

from experts.maps import MAP_KINDS

__all__ = [
    "HANDLE_PATTERN",
    "BoxesData",
    "BoxesRef",
    "ImageData",
    "ImageRef",
    "MaskData",
    "MaskRef",
    "NewBoxes",
    "NewImage",
    "NewMask",
    "NewText",
    "PendingRef",
    "TextData",
    "TextRef",
    "artifact_kind_of",
    "artifact_kinds_of",
    "looks_like_path",
    "ref_validator",
]

HANDLE_PATTERN = re.compile(rf"^(image|mask|boxes|text|video|{'|'.join(MAP_KINDS)})-([1-9][0-9]*)$")
_PATHLIKE = re.compile(r"([/\\]|^~|^[A-Za-z]:|\.(png|jpe?g|gif|bmp|webp|tiff?|npy|json|txt)$|^file:)", re.I)


def looks_like_path(value: str) -> bool:
    """True when ``value`` looks like a filesystem path or URL rather than a handle."""
    return bool(_PATHLIKE.search(value.strip()))


@dataclass(frozen=True)
class PendingRef:
    """A validated artifact handle not yet resolved to data (orchestrator side)."""

    handle: str
    kind: str


@dataclass
class ImageData:
    """Decoded RGB pixels of an image artifact: ``array`` is HxWx3 uint8.

    ``content_id`` is the artifact's id (a hash of its pixels) when the pixels came from the
    orchestrator: a cache keyed by content can use it instead of hashing the pixels again.
    An RGBA image artifact (a cut-out) arrives composited onto black in ``array``, with its
    opacity in ``alpha`` (HxW uint8); ``alpha`` is None for an RGB image.
    """

    handle: str
    array: np.ndarray
    content_id: str | None = None
    kind: str = "image"
    """``image``, or the kind of a condition map (one of :data:`experts.maps.MAP_KINDS`)."""
    alpha: np.ndarray | None = None

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])


@dataclass
class MaskData:
    """A binary mask artifact: ``array`` is HxW bool; ``content_id`` as for :class:`ImageData`."""

    handle: str
    array: np.ndarray
    content_id: str | None = None

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])


@dataclass
class TextData:
    """A text artifact's content; ``content_id`` as for :class:`ImageData`."""

    handle: str
    text: str
    content_id: str | None = None


@dataclass
class BoxesData:
    """A boxes artifact's items: dicts with ``box`` ([x0, y0, x1, y1]) and usually ``label``/``text``
    and ``score``, as the expert that made them wrote them."""

    handle: str
    items: list[dict[str, Any]]
    content_id: str | None = None


def artifact_kinds_of(annotation: Any) -> tuple[str, ...]:
    """The artifact kinds an Input field's type takes (``("image",)`` for ImageRef), preferred first."""
    for item in getattr(annotation, "__metadata__", ()):
        kinds = getattr(getattr(item, "func", None), "artifact_kinds", None)
        if kinds:
            return tuple(kinds)
    for arg in get_args(annotation):
        kinds = artifact_kinds_of(arg)
        if kinds:
            return kinds
    return ()


def artifact_kind_of(annotation: Any) -> str | None:
    """The artifact kind (``"image"``, ``"mask"``, ``"text"``, ``"boxes"``, a map kind) an Input field's type
    names (ImageRef, MaskRef, TextRef, BoxesRef, TextOrHandle, alone or in a list/union); for a
    field that takes several kinds, the preferred one (see :func:`artifact_kinds_of`)."""
    kinds = artifact_kinds_of(annotation)
    return kinds[0] if kinds else None


def _ref_validator(kind: str | tuple[str, ...], data_cls: type) -> PlainValidator:
    kinds = (kind,) if isinstance(kind, str) else kind
    wanted, example = " or ".join(kinds), f"'{kinds[0]}-1'"

    def validate(value: Any) -> Any:
        if isinstance(value, data_cls | PendingRef):
            handle, value_kind = getattr(value, "handle", ""), getattr(value, "kind", kinds[0])
            if value_kind not in kinds:
                raise ValueError(f"expected a {wanted} handle like {example}, got '{handle}'")
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a {wanted} handle like {example}, got {type(value).__name__}")
        text = value.strip()
        if looks_like_path(text):
            raise ValueError(
                f"'{text}' looks like a file path or URL; name an artifact by its handle "
                f"(like {example}) from the artifact table instead"
            )
        match = HANDLE_PATTERN.match(text)
        if not match:
            raise ValueError(f"'{text}' is not an artifact handle; use one like {example}")
        if match.group(1) not in kinds:
            raise ValueError(
                f"'{text}' is a {match.group(1)} handle but a {wanted} handle like {example} is needed"
            )
        return PendingRef(handle=text, kind=match.group(1))

    validate.artifact_kind = kinds[0]  # type: ignore[attr-defined]
    validate.artifact_kinds = kinds  # type: ignore[attr-defined]
    return PlainValidator(validate)


def ref_validator(*kinds: str) -> PlainValidator:
    """The validator of an Input field that takes a handle of any of ``kinds`` (preferred first).

    The controller writes a handle; the expert gets :class:`ImageData`, whose ``kind`` says which.
    Use it with a JSON schema that names the kinds::

        DepthMap = Annotated[ImageData, ref_validator("depth", "image"), WithJsonSchema({...})]
    """
    return _ref_validator(kinds, ImageData)


ImageRef = Annotated[
    ImageData,
    _ref_validator("image", ImageData),
    WithJsonSchema({"type": "string", "description": "handle of an image artifact, e.g. image-1"}),
]
"""Input field type for an image: the controller writes a handle, the expert gets pixels."""

MaskRef = Annotated[
    MaskData,
    _ref_validator("mask", MaskData),
    WithJsonSchema({"type": "string", "description": "handle of a mask artifact, e.g. mask-1"}),
]
"""Input field type for a mask: the controller writes a handle, the expert gets a bool array."""

TextRef = Annotated[
    TextData,
    _ref_validator("text", TextData),
    WithJsonSchema({"type": "string", "description": "handle of a text artifact, e.g. text-1"}),
]
"""Input field type for a text artifact: the controller writes ``text-1``, the expert gets its text."""

BoxesRef = Annotated[
    BoxesData,
    _ref_validator("boxes", BoxesData),
    WithJsonSchema({"type": "string", "description": "handle of a boxes artifact, e.g. boxes-1"}),
]
"""Input field type for a boxes artifact: the controller writes ``boxes-1``, the expert gets its items."""


@dataclass
class NewImage:
    """An image an expert produced (HxWx3 uint8 RGB, or HxWx4 RGBA with transparency, e.g. a cut-out);
    stored as a new image artifact (a PNG that keeps the alpha channel)."""

    array: np.ndarray
    kind: ClassVar[Literal["image"]] = "image"


@dataclass
class NewMask:
    """A mask an expert produced (HxW bool); stored as a new mask artifact."""

    array: np.ndarray
    score: float | None = None
    kind: ClassVar[Literal["mask"]] = "mask"


@dataclass
class NewBoxes:
    """Labelled boxes an expert produced; stored as a boxes artifact.

    Each item is a dict with at least ``box`` ([x0, y0, x1, y1] in pixels) and usually
    ``label``/``text`` and ``score``.
    """

    items: list[dict[str, Any]] = field(default_factory=list)
    kind: ClassVar[Literal["boxes"]] = "boxes"


@dataclass
class NewText:
    """Text an expert produced; stored as a text artifact."""

    text: str
    kind: ClassVar[Literal["text"]] = "text"
