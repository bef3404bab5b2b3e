"""Map steps: one plan step run once per item of a list (each frame of a video, each detected box …).

A step maps over one or more of its arguments with a ``"map"`` key naming them::

    {"id": 1, "tool": "ocr", "arguments": {"image": "<step-0>"}, "map": "image"}

Each mapped argument holds a list: a reference to an earlier step (``<step-0>``: every artifact of
the argument's kind that step made, in order — all the frames ``video_frames`` took; or a field of
its output, ``<step-0>.frames``, whose items may be artifacts), or a list written out
(``["image-2", "image-3"]``). The step runs once per item, concurrently, with the other arguments
the same each time; several mapped arguments are taken together, item by item, and must be as
long as each other. The step's result collects the calls': ``output`` is ``{"items": [...]}`` (one
output per item, in order), ``handles`` every artifact they made, in order; it fails if any item
failed. ``<step-1>`` then means its first artifact of the kind wanted, ``<step-1>.items[2].text``
one item's field, and a later map step over ``<step-1>`` takes all of them.

This module is Ray-free and imports nothing from the plan modules: they pass in what it needs
(reference syntax, resolution), so the hooks stay small:

- ``plan.parse_plan`` reads the key with :func:`read_map`; ``plan.validate_plan`` adds
  :func:`map_problems` and validates :func:`probe_arguments` (one item per mapped argument);
- ``nodes/plan_wave`` turns a map step into calls with :func:`expand`;
- ``nodes/observe`` files each call's result under its step with :func:`record_result`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "MAP_KEY",
    "MapError",
    "empty_result",
    "expand",
    "map_problems",
    "probe_arguments",
    "read_map",
    "record_result",
]

MAP_KEY = "map"


class MapError(ValueError):
    """A map step whose lists cannot be made at run time (a reference that is not a list, lengths differ)."""


def read_map(item: Mapping[str, Any], label: str) -> tuple[list[str] | None, list[str]]:
    """The argument names a raw plan step maps over (``"map": "image"`` or ``["image", "box"]``), and
    the problems with the key."""
    if MAP_KEY not in item or item[MAP_KEY] in (None, False, [], ""):
        return None, []
    value = item[MAP_KEY]
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        return None, [f'{label}: \'map\' must name the argument(s) to map over, e.g. "map": "image"']
    return list(dict.fromkeys(n.strip() for n in names)), []


def map_problems(
    label: str,
    arguments: Mapping[str, Any],
    names: list[str] | None,
    fields: Mapping[str, Any],
    is_reference: Callable[[str], bool],
) -> list[str]:
    """What is wrong with a map step before it runs: unknown names, values that are not lists."""
    problems: list[str] = []
    for name in names or []:
        if name not in fields:
            problems.append(
                f"{label}: 'map' names '{name}', which is not one of its arguments ({', '.join(fields)})"
            )
        elif name not in arguments:
            problems.append(
                f"{label}: 'map' names '{name}' but the step gives no '{name}' argument to map over"
            )
        else:
            value = arguments[name]
            if isinstance(value, list):
                if not value:
                    problems.append(f"{label}: '{name}' is an empty list; there is nothing to map over")
            elif not (isinstance(value, str) and is_reference(value)):
                problems.append(
                    f"{label}: '{name}' is mapped over, so it must be a list or a reference to an earlier "
                    f"step such as <step-0>; got {value!r}"
                )
    return problems


def probe_arguments(arguments: Mapping[str, Any], names: list[str] | None) -> dict[str, Any]:
    """The arguments of one call of the step (a mapped list's first item), to validate against the schema."""
    probe = dict(arguments)
    for name in names or []:
        if isinstance(probe.get(name), list) and probe[name]:
            probe[name] = probe[name][0]
    return probe


def expand(
    step: Mapping[str, Any],
    kinds: Mapping[str, str | None],
    resolve: Callable[[Any, str | None], Any],
    all_of: Callable[[str, str], list[str] | None],
) -> list[dict[str, Any]]:
    """The arguments of each call of a map step, references resolved.

    ``resolve(value, name)`` resolves references in a value as for argument ``name`` of any step
    (``name`` None: as anything, e.g. a whole list to map over); ``all_of(value, kind)``
    is every artifact of ``kind`` a whole reference (``<step-0>``) made, or None when ``value`` is
    not one. Raises :class:`MapError` (or the resolver's error) when the lists cannot be made.
    """
    names: list[str] = step[MAP_KEY]
    arguments = step["arguments"]
    lists = {name: _items(name, arguments[name], kinds.get(name), resolve, all_of) for name in names}
    lengths = {name: len(items) for name, items in lists.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"'{name}' has {n}" for name, n in lengths.items())
        raise MapError(f"the mapped arguments must be as long as each other: {shown} items")
    shared = {k: resolve(v, k) for k, v in arguments.items() if k not in lists}
    count = next(iter(lengths.values()), 0)
    return [shared | {name: items[i] for name, items in lists.items()} for i in range(count)]


def _items(
    name: str,
    value: Any,
    kind: str | None,
    resolve: Callable[[Any, str | None], Any],
    all_of: Callable[[str, str], list[str] | None],
) -> list[Any]:
    if isinstance(value, str) and kind is not None:
        handles = all_of(value, kind)
        if handles is not None:
            return handles
    resolved = [resolve(v, name) for v in value] if isinstance(value, list) else resolve(value, None)
    if not isinstance(resolved, list):
        raise MapError(f"'{name}' is mapped over but {value!r} is not a list: it is {resolved!r}"[:400])
    return [_handle_of(item, kind) for item in resolved]


def _handle_of(item: Any, kind: str | None) -> Any:
    """An item of an output list as an argument: an artifact (``{"handle": …}``) by its handle, or the
    artifact of the wanted kind inside the item (a frame's ``{"image": {"handle": …}, "time": …}``)."""
    if isinstance(item, dict):
        if "handle" in item:
            return item["handle"]
        inner = item.get(kind) if kind else None
        if isinstance(inner, dict) and "handle" in inner:
            return inner["handle"]
    return item


def record_result(
    results: dict[str, Any], call: Mapping[str, Any], entry: dict[str, Any], plan: list[dict[str, Any]] | None
) -> None:
    """File one call's result under its plan step; the calls of a map step are collected in item order
    (``calls`` lists each item's index, success, artifacts and error)."""
    key = str(call["plan_step"])
    step = next((s for s in plan or [] if str(s["id"]) == key), None)
    if step is None or not step.get(MAP_KEY):
        results[key] = entry
        return
    collected = results.setdefault(key, empty_result() | {"calls": []})
    index = int(call.get("map_index", len(collected["calls"])))
    position = bisect.bisect([c["index"] for c in collected["calls"]], index)
    collected["calls"].insert(position, {"index": index} | {k: entry[k] for k in ("ok", "handles", "error")})
    collected["output"]["items"].insert(position, entry["output"])
    handles: dict[str, list[str]] = {}
    for item in collected["calls"]:
        for kind, made in item["handles"].items():
            handles.setdefault(kind, []).extend(made)
    errors = [f"item {c['index']} failed: {c['error']}" for c in collected["calls"] if not c["ok"]]
    collected |= {"handles": handles, "ok": not errors, "error": "; ".join(errors) or None}


def empty_result() -> dict[str, Any]:
    """The result of a map step with nothing to map over: done, no items."""
    return {"ok": True, "handles": {}, "output": {"items": []}, "error": None}
