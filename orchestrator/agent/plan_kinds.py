"""Kinds of values in a plan: what an expert's argument wants, and what a step's output will give.

Both come from the experts' pydantic models, never from their names: an ``Input`` field typed
:data:`~experts.base.ImageRef` wants an image, ``list[Box]`` wants boxes, ``str`` text; an ``Output``
field holding :class:`~experts.base.NewImage` gives an image artifact, ``NewBoxes`` a boxes artifact,
``int`` a number. A reference ``<step-2>.detections[0].box`` is followed through the Output model
(and through the summary the controller reads of each artifact) to the kind it will have, so a plan
that feeds boxes into an image field fails validation instead of failing at run time.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from experts.base import NewBoxes, NewImage, NewMask, NewText, artifact_kinds_of
from experts.protocol import MAP_KINDS, NewMap

__all__ = [
    "ANY",
    "NUMBER",
    "TEXT",
    "Kind",
    "KindError",
    "artifact_path",
    "bare_offer",
    "describe",
    "fits",
    "follow",
    "number_path",
    "offer_of",
    "offered",
    "text_path",
    "want_of",
]

ARTIFACT_KINDS = ("image", "mask", "boxes", "text", "video", *MAP_KINDS)
_NEW_BASES = (NewImage, NewMask, NewBoxes, NewText, NewMap)


@dataclass(frozen=True)
class Kind:
    """A value's kind: an artifact (``image``, ``mask``, ``boxes``, ``text``, ``video``), plain data
    (``text``, ``number``, ``flag``, ``box``), a ``list`` of ``item``, a ``record`` of ``fields``, or
    ``any`` (known only at run time). ``items`` marks a box wanted as a whole item (``{box, label,
    score}``) rather than as ``[x0, y0, x1, y1]``. An artifact field that takes several kinds (a
    ControlNet condition: an image or a condition map) lists them in ``alternatives``, preferred
    first; ``name`` is the preferred one."""

    name: str
    artifact: bool = False
    item: Kind | None = None
    fields: tuple[tuple[str, Kind], ...] = ()
    items: bool = False
    alternatives: tuple[str, ...] = ()

    def field(self, name: str) -> Kind | None:
        return next((kind for key, kind in self.fields if key == name), None)

    @property
    def accepted(self) -> tuple[str, ...]:
        """The artifact kinds this (artifact) kind takes, preferred first."""
        return self.alternatives or (self.name,)


ANY = Kind("any")
TEXT = Kind("text")
NUMBER = Kind("number")
FLAG = Kind("flag")
BOX = Kind("box")
BOX_ITEM = Kind("box", items=True)


def _list(item: Kind) -> Kind:
    return Kind("list", item=item)


def _artifact(name: str) -> Kind:
    return Kind(name, artifact=True)


class KindError(ValueError):
    """A reference that cannot be followed through the output it names; the message says why."""


_ARTICLES = {"image": "an image", "mask": "a mask", "video": "a video", "box": "a box", "number": "a number"}


def describe(kind: Kind) -> str:
    """A kind in words: ``an image``, ``boxes``, ``a list of masks``, ``text``."""
    if kind.artifact and len(kind.accepted) > 1:
        return " or ".join(
            _ARTICLES.get(name, f"a {name} map" if name in MAP_KINDS else name) for name in kind.accepted
        )
    if kind.name == "list" and kind.item is not None:
        inner = describe(kind.item)
        plural = {"an image": "images", "a mask": "masks", "a box": "boxes", "a number": "numbers"}
        return "a list of " + plural.get(inner, inner)
    if kind.name == "record":
        return "an object"
    if kind.name == "flag":
        return "true/false"
    if kind.name == "any":
        return "anything"
    return _ARTICLES.get(kind.name, kind.name)


# -- from pydantic annotations ----------------------------------------------------------------------
def _strip(annotation: Any) -> tuple[Any, list[Any]]:
    """The bare type of an annotation and its metadata (``Annotated`` layers unwrapped)."""
    metadata: list[Any] = []
    while get_origin(annotation) is Annotated:
        args = get_args(annotation)
        annotation, metadata = args[0], [*metadata, *args[1:]]
    return annotation, metadata


def _options(annotation: Any) -> list[Any] | None:
    """The non-None members of a Union / Optional, or None when it is not one."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [arg for arg in get_args(annotation) if arg is not type(None)]
    return None


def _length(metadata: list[Any]) -> tuple[int | None, int | None]:
    low = high = None
    for item in metadata:
        for inner in [item, *getattr(item, "metadata", [])]:
            low = (
                getattr(inner, "min_length", None) if getattr(inner, "min_length", None) is not None else low
            )
            high = (
                getattr(inner, "max_length", None) if getattr(inner, "max_length", None) is not None else high
            )
    return low, high


def _literal(bare: Any) -> Kind | None:
    """TEXT for a Literal of strings, NUMBER for one of numbers, ANY for a mix; None if not a Literal."""
    if get_origin(bare) is not Literal:
        return None
    values = get_args(bare)
    if all(isinstance(v, str) for v in values):
        return TEXT
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return NUMBER
    return ANY


def _artifact_class(bare: Any) -> str | None:
    """The artifact kind a New* output class makes (the ``kind`` every New* wrapper names)."""
    if isinstance(bare, type) and issubclass(bare, _NEW_BASES):
        kind = getattr(bare, "kind", None)
        return kind if isinstance(kind, str) else None
    return None


def _union(kinds: list[Kind]) -> Kind:
    unique = list(dict.fromkeys(kinds))
    return unique[0] if len(unique) == 1 else ANY


def _model_fields(model: type[BaseModel], convert: Any, seen: tuple[type, ...]) -> Kind:
    if model in seen:
        return ANY
    fields = tuple(
        (name, convert(info.rebuild_annotation(), (*seen, model)))
        for name, info in model.model_fields.items()
    )
    return Kind("record", fields=fields)


def offer_of(annotation: Any, seen: tuple[type, ...] = ()) -> Kind:
    """What an Output field of this type gives: artifacts for NewImage/NewMask/NewBoxes/NewText
    (or any class with an ``artifact_kind``), plain kinds for the rest."""
    bare, _ = _strip(annotation)
    options = _options(bare)
    if options is not None:
        return _union([offer_of(option, seen) for option in options]) if options else ANY
    kind = _artifact_class(bare)
    if kind is not None:
        return _artifact(kind)
    literal = _literal(bare)
    if literal is not None:
        return literal
    if bare is str:
        return TEXT
    if bare is bool:
        return FLAG
    if bare in (int, float):
        return NUMBER
    if get_origin(bare) in (list, tuple, set, frozenset):
        args = [arg for arg in get_args(bare) if arg is not Ellipsis]
        return _list(_union([offer_of(arg, seen) for arg in args]) if args else ANY)
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return _model_fields(bare, offer_of, seen)
    return ANY


def want_of(annotation: Any, seen: tuple[type, ...] = ()) -> Kind:
    """What an Input field of this type accepts: an artifact for ImageRef/MaskRef (any handle type
    built like them), ``box`` for four numbers, ``text``, ``number``, lists of those, or ``any``."""
    bare, metadata = _strip(annotation)
    refs = artifact_kinds_of(Annotated[(object, *metadata)]) if metadata else ()
    if refs:
        return Kind(refs[0], artifact=True, alternatives=refs if len(refs) > 1 else ())
    options = _options(bare)
    if options is not None:
        return _union([want_of(option, seen) for option in options]) if options else ANY
    literal = _literal(bare)
    if literal is not None:
        return literal
    if bare is str:
        return TEXT
    if bare is bool:
        return FLAG
    if bare in (int, float):
        return NUMBER
    if get_origin(bare) in (list, tuple):
        args = [arg for arg in get_args(bare) if arg is not Ellipsis]
        item = _union([want_of(arg, seen) for arg in args]) if args else ANY
        if item == NUMBER and _length(metadata) == (4, 4):
            return BOX
        return _list(item)
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        if "box" in bare.model_fields:
            return BOX_ITEM
        return _model_fields(bare, want_of, seen)
    return ANY


# -- following a reference --------------------------------------------------------------------------
_SUMMARY: dict[str, dict[str, Kind]] = {
    "image": {"size": _list(NUMBER)},
    "mask": {"size": _list(NUMBER), "area": NUMBER, "bbox": BOX, "score": NUMBER},
    "boxes": {"count": NUMBER, "items": _list(BOX_ITEM)},
    "text": {"text": TEXT},
    **{kind: {"size": _list(NUMBER)} for kind in MAP_KINDS},
}
_ITEM_FIELDS = {"box": BOX, "label": TEXT, "text": TEXT, "score": NUMBER}


def _step_of(kind: Kind, step: str | int, where: str) -> Kind:
    if kind.name == "any":
        return ANY
    if isinstance(step, int):
        if kind.name == "list" and kind.item is not None:
            return kind.item
        if kind.artifact and kind.name == "boxes":
            return BOX_ITEM
        if kind == BOX:
            return NUMBER
        raise KindError(f"{where} is {describe(kind)}, not a list; it cannot be indexed with [{step}]")
    if kind.artifact:
        members = _SUMMARY.get(kind.name)
        if step == "handle":
            return kind
        if members is None:
            return ANY
        if step in members:
            return members[step]
        raise KindError(
            f"{where} is {describe(kind)}; it has {', '.join(['handle', *members])}, not '{step}'"
        )
    if kind == BOX_ITEM:
        return _ITEM_FIELDS.get(step, ANY)
    if kind.name == "record":
        found = kind.field(step)
        if found is None:
            names = ", ".join(name for name, _ in kind.fields)
            raise KindError(f"{where} has no field '{step}'; it has: {names}")
        return found
    if kind.name == "list":
        raise KindError(f"{where} is {describe(kind)}; pick one item first, e.g. [0]")
    raise KindError(f"{where} is {describe(kind)}; it has no field '{step}'")


def follow(kind: Kind, path: list[str | int], start: str) -> Kind:
    """The kind at ``path`` (``["detections", 0, "box"]``) inside an output of ``kind``."""
    where = start
    for step in path:
        kind = _step_of(kind, step, where)
        where += f"[{step}]" if isinstance(step, int) else f".{step}"
    return kind


def fits(offer: Kind, want: Kind) -> bool:
    """Whether a value of kind ``offer`` can go where ``want`` is asked (artifacts become handles,
    a boxes artifact the list of its boxes, a box item its box, a number text)."""
    if ANY in (offer, want) or want.name == "record":
        return True
    if want.name == "list":
        assert want.item is not None
        if offer.name == "list" and offer.item is not None:
            return fits(offer.item, want.item)
        return offer.artifact and offer.name == "boxes" and want.item.name in ("box", "any")
    if want.name == "box":
        return offer.name == "box" or (offer.name == "list" and offer.item in (NUMBER, ANY))
    if want.name == "text" and not want.artifact:
        return offer.name in ("text", "number")
    if want.artifact:
        return offer.artifact and offer.name in want.accepted
    return offer.name == want.name and offer.artifact == want.artifact


# -- what a bare <step-k> gives ---------------------------------------------------------------------
def _artifact_paths(
    kind: Kind, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], Kind, bool]]:
    """(field path, artifact kind, whether it is one of a list of them) of every artifact an output
    holds; in a list of records (a frame: ``{"image": …, "time": …}``) the path goes through item 0."""
    found: list[tuple[tuple[str | int, ...], Kind, bool]] = []
    for name, field in kind.fields:
        if field.artifact:
            found.append(((*path, name), field, False))
        elif field.name == "list" and field.item is not None and field.item.artifact:
            found.append(((*path, name, 0), field.item, True))
        elif field.name == "list" and field.item is not None and field.item.name == "record":
            found += [(inner, kind, True) for inner, kind, _ in _artifact_paths(field.item, (*path, name, 0))]
        elif field.name == "record":
            found += _artifact_paths(field, (*path, name))
    return found


def artifact_path(output: Kind, name: str) -> tuple[str | int, ...] | None:
    """Where a step's first artifact of kind ``name`` is (``("masks", 0)`` in a list of them)."""
    for path, kind, _ in _artifact_paths(output):
        if kind.name == name:
            return path
    return None


def text_path(output: Kind) -> tuple[str | int, ...] | None:
    """Where a step's text output is: its text artifact, else a ``text`` field, else its only text field."""
    for path, kind, many in _artifact_paths(output):
        if kind.name == "text" and not many:
            return path
    texts = [name for name, field in output.fields if field == TEXT]
    if "text" in texts:
        return ("text",)
    return (texts[0],) if len(texts) == 1 else None


def number_path(output: Kind) -> tuple[str, ...] | None:
    """Where a step's number output is: its only top-level number field."""
    numbers = [name for name, field in output.fields if field == NUMBER]
    return (numbers[0],) if len(numbers) == 1 else None


def offered(output: Kind) -> list[str]:
    """What a bare reference to a step with this output can give, in words (for messages)."""
    words = [
        describe(kind) if not many else describe(_list(kind)) for _, kind, many in _artifact_paths(output)
    ]
    if text_path(output) is not None:
        words.append("text")
    words += ["a number" for _, field in output.fields if field == NUMBER][:1]
    return list(dict.fromkeys(words)) or ["no artifact, text or number"]


def bare_offer(output: Kind, want: Kind) -> Kind | None:
    """What a bare ``<step-k>`` gives where ``want`` is asked, or None when the step has no such output."""
    if output.name == "any" or want.name in ("any", "record"):
        return ANY
    artifacts = {kind.name for _, kind, _ in _artifact_paths(output)}
    if want.artifact:
        return next((_artifact(name) for name in want.accepted if name in artifacts), None)
    if want.name == "list" and want.item is not None:
        if want.item.artifact:
            found = next((name for name in want.item.accepted if name in artifacts), None)
            return _list(_artifact(found)) if found else None
        if want.item.name in ("box", "any") and "boxes" in artifacts:
            return _artifact("boxes")
        return ANY if want.item == ANY else None
    if want == TEXT:
        return TEXT if text_path(output) is not None else None
    if want == NUMBER:
        return NUMBER if number_path(output) is not None else None
    return None
