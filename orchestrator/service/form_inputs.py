"""A task form's uploads as the SDK's run arguments: ``videos`` checked whole, named inputs as ``inputs=``."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.service.limits import ApiError
from orchestrator.service.media import check_video
from orchestrator.service.uploads import TaskForm, UploadLimits

__all__ = ["check_videos", "named_inputs"]


def check_videos(form: TaskForm, limits: UploadLimits) -> None:
    """The full check of every uploaded video (every packet, the first frame); blocking: run in a thread."""
    for name, data in form.all_videos():
        check_video(data, name, limits.video)


def _targets(form: TaskForm) -> dict[str, str]:
    text = form.fields.get("for", "").strip()
    if not text:
        return {}
    try:
        targets = json.loads(text)
    except json.JSONDecodeError as err:
        raise ApiError(422, f"'for' is not valid JSON: {err}") from None
    if not isinstance(targets, dict) or not all(isinstance(v, str) for v in targets.values()):
        raise ApiError(422, """'for' must be a JSON object of handles, like {"mask-1": "image-2"}""")
    for handle in targets:
        if handle not in form.named or not handle.startswith(("mask-", "boxes-")):
            raise ApiError(
                422, f"'for' names {handle!r}, which is not a mask-N or boxes-N input of this request"
            )
    return targets


def named_inputs(form: TaskForm) -> dict[str, Any] | None:
    """The ``inputs=`` mapping of the form's named fields (the SDK checks the values), or None."""
    if not form.named:
        return None
    targets = _targets(form)
    inputs: dict[str, Any] = {}
    value: Any
    for handle, given in form.named.items():
        kind, value = handle.split("-", 1)[0], given
        if kind == "boxes":
            try:
                value = json.loads(value)
            except (TypeError, json.JSONDecodeError) as err:
                raise ApiError(
                    422, f"'{handle}' must be a JSON list of [x0, y0, x1, y1] boxes: {err}"
                ) from None
        if handle in targets:
            value = {kind: value, "for": targets[handle]}
        inputs[handle] = value
    return inputs
