"""Shared by the experts that read boxes artifacts (select, count): an item's label, area and score,
and how a label asked for matches an item's label."""

from __future__ import annotations

import re
from typing import Any

from experts.base import ExpertError

__all__ = ["UNLABELLED", "area_of", "label_of", "matches", "score_of"]

UNLABELLED = "object"
"""The label of an item that has neither ``label`` nor ``text``."""


def label_of(item: dict[str, Any]) -> str:
    """The item's ``label`` (detections), else its ``text`` (OCR lines), else ``"object"``."""
    for key in ("label", "text"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return UNLABELLED


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def matches(label: str, wanted: str) -> bool:
    """Whether ``label`` is ``wanted`` or holds it as whole words, ignoring case: 'car' matches 'red car'
    and 'Car', not 'carpet'."""
    have, want = _words(label), _words(wanted)
    if not want:
        return False
    n = len(want)
    return any(have[i : i + n] == want for i in range(len(have) - n + 1))


def area_of(item: dict[str, Any], index: int, handle: str) -> int:
    """The pixel area of the item's ``box``; an ExpertError naming the item when it has no valid box."""
    box = item.get("box")
    if not (isinstance(box, list | tuple) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
        raise ExpertError(f"item {index} of {handle} has no box [x0, y0, x1, y1]: {str(item)[:120]}")
    x0, y0, x1, y1 = box
    return int(max(0, x1 - x0) * max(0, y1 - y0))


def score_of(item: dict[str, Any]) -> float | None:
    """The item's ``score``, or None when it has none."""
    score = item.get("score")
    return float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
