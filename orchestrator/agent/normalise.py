"""What the controller writes, made into plain JSON any checkpointer can store -- or refused.

Tool arguments and plans enter the session's state, which every checkpointer must persist: the
SQLite and PostgreSQL savers (msgpack) refuse integers beyond 64 bits, nesting deeper than ~250
levels, object keys with unpaired surrogates and Python values that JSON has no word for (complex
numbers, sets, bytes, ``...``). :func:`plain_json` returns a plain copy (tuples become lists) or
raises :class:`NotPlainJSON`, whose message tells the controller what to write instead.
:func:`clean_text` makes free text (a reply, an answer) valid Unicode.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_INT", "NotPlainJSON", "clean_text", "plain_arguments", "plain_json"]

MAX_DEPTH = 32
"""How deeply lists and objects may nest inside one value (a box list is 2 deep, a polygon list 3)."""
MAX_INT = 2**63 - 1
"""The largest integer (in magnitude) that every checkpointer stores."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class NotPlainJSON(ValueError):
    """A value that is not plain JSON data; ``str(err)`` says where and what to write instead."""


def clean_text(text: str) -> str:
    """``text`` with unpaired surrogates (not valid Unicode, not storable) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _where(path: str) -> str:
    return f"at '{path}'" if path else "at the top level"


def _digits(number: int) -> int:
    """About how many decimal digits ``number`` has (``str()`` refuses more than 4300)."""
    return max(1, int(number.bit_length() * 0.30103) + 1)


def _type_name(value: Any) -> str:
    names = {complex: "a complex number", bytes: "bytes", set: "a set", frozenset: "a set"}
    if value is Ellipsis:
        return "'...' (Ellipsis)"
    return names.get(type(value), f"a Python {type(value).__name__}")


def plain_json(value: Any, path: str = "", depth: int = 0) -> Any:
    """A plain-JSON copy of ``value`` (str, finite numbers within 64 bits, bool, None, lists and
    objects with string keys, at most :data:`MAX_DEPTH` deep); raises :class:`NotPlainJSON`."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise NotPlainJSON(
                f"the text {_where(path)} holds an unpaired surrogate (invalid Unicode); "
                "write the character itself"
            )
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise NotPlainJSON(
                f"the integer {_where(path)} has {_digits(value)} digits; numbers must lie within "
                f"±{MAX_INT} (pixel coordinates and counts are far smaller)"
            )
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotPlainJSON(f"the number {_where(path)} is {value}; write a finite number")
        return float(value)
    if isinstance(value, (list, tuple, dict)):
        if depth >= MAX_DEPTH:
            raise NotPlainJSON(
                f"the value {_where(path)} nests lists/objects more than {MAX_DEPTH} levels deep; "
                "write it flatter"
            )
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    shown = (
                        f"{key!r}"[:40] if not isinstance(key, int) else f"an integer ({_digits(key)} digits)"
                    )
                    raise NotPlainJSON(
                        f"an object key {_where(path)} is {shown}, not a string; object keys must be strings"
                    )
                if _SURROGATE.search(key):
                    raise NotPlainJSON(
                        f"an object key {_where(path)} holds an unpaired surrogate (invalid Unicode)"
                    )
                out[key] = plain_json(item, f"{path}.{key}" if path else key, depth + 1)
            return out
        return [plain_json(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise NotPlainJSON(
        f"the value {_where(path)} is {_type_name(value)}, which JSON cannot express; use a string, "
        "a number, true/false, null, a list or an object"
    )


def plain_arguments(arguments: Any, tool: str) -> dict[str, Any]:
    """A call's arguments as a plain-JSON object; :class:`NotPlainJSON` says what is wrong, for ``tool``."""
    if not isinstance(arguments, dict):
        raise NotPlainJSON(
            f"the arguments of {tool!r} must be a JSON object of named arguments, not {_type_name(arguments)}"
        )
    try:
        return plain_json(arguments)  # type: ignore[no-any-return]
    except NotPlainJSON as err:
        raise NotPlainJSON(f"the arguments of {tool!r} cannot be used: {err}") from None
