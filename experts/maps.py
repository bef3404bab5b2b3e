"""Condition maps: the artifact kinds of the annotators' outputs, and the wrappers experts return them in.

A condition map is HxWx3 uint8 RGB like an image (stored as PNG), but each is its own artifact kind, so
a plan, the controller and ControlNet know what a map holds: ``depth-1`` is a depth map, ``pose-2`` an
OpenPose skeleton. Ray-free and dependency-light: the wire and the artifact store import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

import numpy as np

__all__ = [
    "MAP_KINDS",
    "MapKind",
    "NewDepth",
    "NewHed",
    "NewMap",
    "NewMlsd",
    "NewNormal",
    "NewPose",
    "NewScribble",
]

MapKind = Literal["depth", "normal", "pose", "hed", "mlsd", "scribble"]
MAP_KINDS: tuple[str, ...] = get_args(MapKind)
"""Every condition-map kind (each one also names the ControlNet condition it drives)."""


@dataclass
class NewMap:
    """A condition map an expert produced (HxWx3 uint8 RGB); stored as an artifact of its ``kind``.

    Declare an output with the subclass of the map's kind (``depth: NewDepth``): the kind of the
    artifact a step will make is then known from the Output model.
    """

    array: np.ndarray
    kind: ClassVar[MapKind]


@dataclass
class NewDepth(NewMap):
    """A depth map: grey, near is bright (relative depth, min-max scaled to 0..255)."""

    kind: ClassVar[MapKind] = "depth"


@dataclass
class NewNormal(NewMap):
    """A normal map: surface normals as RGB (x, y, z from -1..1 scaled to 0..255)."""

    kind: ClassVar[MapKind] = "normal"


@dataclass
class NewPose(NewMap):
    """An OpenPose-style skeleton map: coloured limbs and joints on black."""

    kind: ClassVar[MapKind] = "pose"


@dataclass
class NewHed(NewMap):
    """A soft-edge (HED) map: grey edge strength on black."""

    kind: ClassVar[MapKind] = "hed"


@dataclass
class NewMlsd(NewMap):
    """A straight-line (M-LSD) map: white line segments on black."""

    kind: ClassVar[MapKind] = "mlsd"


@dataclass
class NewScribble(NewMap):
    """A scribble map: white strokes on black."""

    kind: ClassVar[MapKind] = "scribble"
