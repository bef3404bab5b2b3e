"""A run's inputs as artifacts of its session: handles given, references checked, bytes stored.

The SDK decodes and checks each input on its own (``orchestrator/inputs.py``,
``orchestrator/video_inputs.py``, ``orchestrator/named_inputs.py``) into :class:`TaskInput` s. Here
they meet the session: inputs named by the caller (``inputs={"mask-1": …}``) keep their handle,
which must be free in the session; the others take the next free handle of their kind; a mask or a
boxes input is checked against the image or video it is for. :func:`assign_handles` does all of
that without writing anything (the SDK calls it before any work, ``run_plan`` to know the handles);
:func:`store_inputs` then stores the bytes and returns the artifact records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.errors import InputError
from orchestrator.storage.artifacts import ArtifactRecord, ArtifactStore, next_handle

__all__ = ["TaskInput", "assign_handles", "store_inputs"]

VISUAL_KINDS = ("image", "video")


@dataclass(frozen=True)
class TaskInput:
    """One checked input of a run.

    ``value`` is what the store keeps: an RGB array (image), a bool array (mask), a probed video
    file, a list of box items, or a text. ``shape`` is the artifact's shape. ``handle`` is the
    handle the caller asked for (None: the next free one). ``target`` names the image or video a
    mask or boxes input is for (None: the run's only image or video; once assigned, the one it is
    for, which becomes its parent in the lineage); ``where`` says where the input came from, for
    messages.
    """

    kind: str
    value: Any
    shape: list[int]
    where: str
    handle: str | None = None
    target: str | None = None
    boxes: list[list[int]] = field(default_factory=list)
    """For a boxes input: its boxes, checked against the target's size."""


def assign_handles(
    table: dict[str, ArtifactRecord], inputs: Sequence[TaskInput]
) -> list[tuple[str, TaskInput]]:
    """Each input with its handle, after checking named handles are free and masks/boxes fit their image.

    Raises :class:`InputError` for a handle already taken in the session (or given twice), and for
    a mask or boxes that do not fit the image or video they are for.
    """
    taken: set[str] = set()
    for item in inputs:
        if item.handle is None:
            continue
        if item.handle in table:
            free = next_handle(table, item.kind, taken={i.handle for i in inputs if i.handle})
            raise InputError(
                f"{item.where}: handle '{item.handle}' is already taken in this session (by a "
                f"{table[item.handle]['kind']} from {table[item.handle]['producer']}); "
                f"name it '{free}' instead"
            )
        taken.add(item.handle)
    assigned = []
    for item in inputs:
        handle = item.handle or next_handle(table, item.kind, taken=taken)
        taken.add(handle)
        assigned.append((handle, item))
    shapes = {h: (r["kind"], r["shape"]) for h, r in table.items()}
    shapes |= {h: (i.kind, i.shape) for h, i in assigned}
    visual = [h for h, i in assigned if i.kind in VISUAL_KINDS]
    for position, (handle, item) in enumerate(assigned):
        if item.kind in ("mask", "boxes"):
            target = _target(handle, item, visual, shapes)
            _check_fits(item, target, shapes)
            assigned[position] = (handle, replace(item, target=target))
    return assigned


def _target(handle: str, item: TaskInput, visual: list[str], shapes: dict[str, Any]) -> str:
    if item.target is not None:
        if item.target not in shapes:
            known = ", ".join(sorted(h for h, (k, _) in shapes.items() if k in VISUAL_KINDS)) or "none"
            raise InputError(
                f"{item.where} is for '{item.target}', which is not an image or video here ({known})"
            )
        if shapes[item.target][0] not in VISUAL_KINDS:
            raise InputError(
                f"{item.where} is for '{item.target}', a {shapes[item.target][0]}; name an image or video"
            )
        return item.target
    if len(visual) == 1:
        return visual[0]
    given = "no image or video is given with it" if not visual else f"the run has {', '.join(sorted(visual))}"
    raise InputError(
        f"{item.where}: say which image or video {handle} is for ({given}): pass "
        f"{{'{item.kind}': …, 'for': 'image-1'}}"
    )


def _check_fits(item: TaskInput, target: str, shapes: dict[str, Any]) -> None:
    width, height = shapes[target][1][:2]
    if item.kind == "mask":
        if item.shape[:2] != [width, height]:
            raise InputError(
                f"{item.where}: the mask is {item.shape[0]}x{item.shape[1]} but {target} is "
                f"{width}x{height}; give a mask of the same size"
            )
        return
    for index, box in enumerate(item.boxes):
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            raise InputError(
                f"{item.where}: box {index} {box} does not lie inside {target} ({width}x{height}); boxes are "
                "[x0, y0, x1, y1] pixels with 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height"
            )


def store_inputs(
    store: ArtifactStore, table: dict[str, ArtifactRecord], inputs: Sequence[TaskInput], remember: Any = None
) -> dict[str, ArtifactRecord]:
    """Store the inputs (see :func:`assign_handles`) and return their artifact records by handle.

    ``remember(artifact_id, array)`` keeps decoded pixels at hand for the run (the pixel cache).
    """
    records: dict[str, ArtifactRecord] = {}
    for handle, item in assign_handles(table, inputs):
        artifact_id, shape, uri = store.put(item.kind, item.value)
        if remember is not None and item.kind in ("image", "mask"):
            remember(artifact_id, item.value)
        parents = [item.target] if item.target else []
        records[handle] = {
            "handle": handle,
            "id": artifact_id,
            "kind": item.kind,
            "shape": shape,
            "producer_step": 0,
            "producer": "input",
            "parents": parents,
            "uri": uri,
        }
    return records
