"""References between plan steps: how they are written, found, checked and resolved.

An argument refers to an earlier step's output as ``<step-k>`` (also TaskBench's ``<node-k>`` and
HuggingGPT's ``<GENERATED>-k``), optionally followed by a path into that output:
``<step-2>.detections[0].box``. A bare reference means the output the argument wants: the step's
image or mask for an image or mask field (all of them for a list), its boxes for a list of boxes, its
text for a text field, its only number for a number field. A path through a boxes artifact indexes
its items (``.detections[0]``), and a whole boxes artifact given where a list of boxes is wanted
becomes the list of its boxes -- "all of them". Spellings that look like references but are not
(``<GENERATED-0>``, ``<step 2>``) are reported, never passed on as literal text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from experts.base import HANDLE_PATTERN
from orchestrator.agent.plan_kinds import (
    ANY,
    TEXT,
    Kind,
    artifact_path,
    number_path,
    text_path,
)

__all__ = [
    "REFERENCE",
    "Resolver",
    "UnresolvedReference",
    "near_misses",
    "reference_id",
    "reference_path",
    "references_in",
    "strings_in",
]

_ID = r"(\d{1,9})(?!\d)"
REFERENCE = re.compile(
    rf"(?:<\s*(?:step|node)\s*-\s*{_ID}\s*>|<GENERATED>\s*-\s*{_ID})((?:\.[A-Za-z_]\w*|\[-?\d{{1,9}}\])*)",
    re.IGNORECASE,
)
"""A step reference: group 1 or 2 is the step id, group 3 the path into its output."""
_NEAR = re.compile(r"<\s*(?:step|node|generated)(?:[\s_#:=-]*\d+\s*>?|\s*>(?:\s*-?\s*\d+)?)", re.IGNORECASE)
_PATH_PART = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+)\]")


class UnresolvedReference(ValueError):
    """A step reference the finished steps cannot satisfy (the step failed, or its output lacks the path)."""


def reference_id(match: re.Match[str]) -> int:
    """The step id of a :data:`REFERENCE` match."""
    return int(match.group(1) or match.group(2))


def reference_path(match: re.Match[str]) -> list[str | int]:
    """The path of a :data:`REFERENCE` match: ``.detections[0].box`` is ``["detections", 0, "box"]``."""
    return [key if key else int(index) for key, index in _PATH_PART.findall(match.group(3))]


def strings_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, string) for every string value inside ``value`` (keys are not values)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from strings_in(item, f"{path}[{i}]")


def references_in(value: Any) -> set[int]:
    """The step ids referenced anywhere in ``value``."""
    return {reference_id(m) for _, text in strings_in(value) for m in REFERENCE.finditer(text)}


def near_misses(text: str) -> list[str]:
    """Spellings in ``text`` that look like a step reference but are not one (``<GENERATED-0>``)."""
    valid = [m.span() for m in REFERENCE.finditer(text)]
    return [
        m.group(0) for m in _NEAR.finditer(text) if not any(start <= m.start() < end for start, end in valid)
    ]


def _follow(value: Any, path: list[str | int], ref: str) -> Any:
    """The value at ``path`` in a step's output; an index into a boxes artifact indexes its items."""
    for step in path:
        try:
            if isinstance(step, int):
                if isinstance(value, dict) and "handle" in value and isinstance(value.get("items"), list):
                    value = value["items"]
                value = value[step]
            else:
                value = value[step]
        except (KeyError, IndexError, TypeError):
            raise UnresolvedReference(f"{ref}: the step's output has no {step!r} there") from None
    return value


def _boxes_of(items: Any, want: Kind) -> Any:
    """A boxes artifact's items as ``want`` asks: whole items (for a list of items or of anything),
    or their ``[x0, y0, x1, y1]`` (for a list of boxes)."""
    if not isinstance(items, list) or want.item is None or want.item.items or want.item == ANY:
        return items
    return [item["box"] if isinstance(item, dict) and "box" in item else item for item in items]


def convert(value: Any, want: Kind) -> Any:
    """A referenced value in the form ``want`` asks for: an artifact becomes its handle, a boxes
    artifact the list of its boxes, a box item its box, a text artifact its text, a number text."""
    if want.artifact:
        return value["handle"] if isinstance(value, dict) and "handle" in value else value
    if want.name == "list" and want.item is not None:
        if (
            isinstance(value, dict)
            and isinstance(value.get("items"), list)
            and want.item.name in ("box", "any")
        ):
            return _boxes_of(value["items"], want)
        if isinstance(value, list):
            return [convert(item, want.item) for item in value]
        return value
    if want.name == "box" and not want.items and isinstance(value, dict) and "box" in value:
        return value["box"]
    if want == TEXT:
        if isinstance(value, dict) and "handle" in value and isinstance(value.get("text"), str):
            return value["text"]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    return value


@dataclass
class Resolver:
    """Resolves references against finished steps: ``results`` are the plan's step results (ok,
    handles by kind, output as the controller read it), ``output_of`` the Output kind of a step id,
    ``load`` the stored value of an existing artifact handle (a boxes artifact's items)."""

    results: dict[str, Any]
    output_of: Callable[[int], Kind]
    load: Callable[[str], Any]

    def _result(self, match: re.Match[str]) -> dict[str, Any]:
        result = self.results.get(str(reference_id(match)))
        if result is None or not result["ok"]:
            raise UnresolvedReference(f"{match.group(0)}: that step has not produced an output")
        return result  # type: ignore[no-any-return]

    def _bare(self, match: re.Match[str], want: Kind) -> Any:
        ref, result = match.group(0), self._result(match)
        handles: dict[str, list[str]] = result["handles"]
        output = self.output_of(reference_id(match))
        kind = want.item if want.name == "list" and want.item is not None and want.item.artifact else want
        if kind.artifact:
            name = next((name for name in kind.accepted if handles.get(name)), None)
            if name is None:
                raise UnresolvedReference(f"{ref}: that step produced no {' or '.join(kind.accepted)}")
            return handles[name][0] if kind is want else list(handles[name])
        path = None
        if want.name == "list" and want.item is not None and want.item.name in ("box", "any"):
            path = artifact_path(output, "boxes")
        elif want == TEXT:
            path = text_path(output)
        elif want.name == "number":
            path = number_path(output)
        if path is not None:
            return convert(_follow(result["output"], list(path), ref), want)
        first = next((h[0] for h in handles.values() if h), None)
        return first if first is not None else result["output"]

    def whole(self, match: re.Match[str], want: Kind) -> Any:
        """The value a whole-string reference stands for, in the form ``want`` asks for."""
        path = reference_path(match)
        if not path:
            return self._bare(match, want)
        return convert(_follow(self._result(match)["output"], path, match.group(0)), want)

    def inline(self, match: re.Match[str]) -> str:
        """The text a reference inside a longer text stands for."""
        value = self.whole(match, TEXT) if not reference_path(match) else self.whole(match, ANY)
        if isinstance(value, dict) and "handle" in value:
            value = value["text"] if isinstance(value.get("text"), str) else value["handle"]
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def resolve(self, value: Any, want: Kind) -> Any:
        """``value`` with every reference replaced by what it stands for (``want``: the field's kind)."""
        if isinstance(value, str):
            whole = REFERENCE.fullmatch(value.strip())
            if whole:
                return self.whole(whole, want)
            if want.name == "list" and want.item is not None and want.item.name in ("box", "any"):
                handle = HANDLE_PATTERN.match(value.strip())
                if handle and handle.group(1) == "boxes":
                    return _boxes_of(self.load(value.strip()), want)
            return REFERENCE.sub(self.inline, value) if REFERENCE.search(value) else value
        if isinstance(value, list):
            item = want.item if want.name == "list" and want.item is not None else ANY
            return [self.resolve(v, item) for v in value]
        if isinstance(value, dict):
            return {
                k: self.resolve(v, (want.field(k) if want.name == "record" else None) or ANY)
                for k, v in value.items()
            }
        return value
