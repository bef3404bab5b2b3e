"""Handles for new artifacts (``image-3``, ``mask-1`` …) without reading the whole artifact table.

The state keeps, per kind, the highest handle number given (``handle_counts``); a new handle is that
number plus one. Counts are always written whole (every kind). A session from before
``handle_counts`` existed (the field reads as empty) has its counts read from its table once, and
the next update stores them, so later allocations never scan again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from orchestrator.storage.artifacts import ArtifactRecord

__all__ = ["HandleAllocator", "counts_of"]

_HANDLE = re.compile(r"^([a-z]+)-(\d+)$")


def counts_of(table: Mapping[str, ArtifactRecord]) -> dict[str, int]:
    """Per kind, the highest handle number in ``table`` (one pass; for sessions without counts)."""
    counts: dict[str, int] = {}
    for handle in table:
        match = _HANDLE.match(handle)
        if match:
            kind, number = match.group(1), int(match.group(2))
            counts[kind] = max(number, counts.get(kind, 0))
    return counts


class HandleAllocator:
    """Gives the next handles of each kind, starting from the session's counts."""

    def __init__(self, counts: Mapping[str, int] | None, table: Mapping[str, ArtifactRecord]) -> None:
        self.counts: dict[str, int] = dict(counts) if counts else counts_of(table)

    def note(self, handle: str) -> None:
        """Count ``handle``, given elsewhere (a run's input, named by its caller), as taken."""
        match = _HANDLE.match(handle)
        if match:
            kind, number = match.group(1), int(match.group(2))
            self.counts[kind] = max(number, self.counts.get(kind, 0))

    def next(self, kind: str) -> str:
        """A new handle of ``kind``, never given before in this session."""
        number = self.counts.get(kind, 0) + 1
        self.counts[kind] = number
        return f"{kind}-{number}"
