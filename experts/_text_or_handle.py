"""A text argument given either way: a text artifact's handle or the text itself.

``TextOrHandle`` is for fields like the ``text`` expert's ``texts``: ``"text-1"`` resolves to that
artifact's text (the expert gets :class:`~experts.base.TextData`), any other string is the text (the
expert gets a ``str``). Plans and the orchestrator see it as a reference to a text artifact
(:func:`~experts.base.artifact_kind_of` says ``"text"``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from experts.base import HANDLE_PATTERN, PendingRef, TextData

__all__ = ["TextOrHandle"]


def _text_or_handle(value: Any) -> Any:
    """A text handle becomes a reference to resolve; any other string is the text itself."""
    if isinstance(value, TextData | PendingRef):
        if isinstance(value, PendingRef) and value.kind != "text":
            raise ValueError(
                f"'{value.handle}' is a {value.kind} handle; give a text handle or the text itself"
            )
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected text or a text handle like 'text-1', got {type(value).__name__}")
    match = HANDLE_PATTERN.match(value.strip())
    if match is None:
        return value
    if match.group(1) != "text":
        raise ValueError(
            f"'{value.strip()}' is a {match.group(1)} handle; give a text handle like 'text-1' or the "
            "text itself"
        )
    return PendingRef(handle=value.strip(), kind="text")


_text_or_handle.artifact_kind = "text"  # type: ignore[attr-defined]
_text_or_handle.artifact_kinds = ("text",)  # type: ignore[attr-defined]

TextOrHandle = Annotated[
    TextData | str,
    PlainValidator(_text_or_handle),
    WithJsonSchema(
        {"type": "string", "description": "a text artifact's handle (e.g. text-1) or the text itself"}
    ),
]
"""Input field type for text given either way: ``text-1`` resolves to that artifact's text (the expert
gets :class:`TextData`), any other string is passed as it is (the expert gets a ``str``)."""
