"""What the API shows of results, events and artifacts: no server paths, artifact URLs under ``/v1``."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.events import Event
from orchestrator.result import ArtifactInfo, Result
from orchestrator.storage.artifacts import artifact_uri

__all__ = [
    "absolute",
    "artifact_grants",
    "failed_result",
    "public_artifacts",
    "public_event",
    "public_result",
]


def _public_artifact(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "path": None, "url": f"/v1/artifacts/{entry['id']}"}


def public_result(result: Result) -> dict[str, Any]:
    """The Result's JSON with each artifact's ``url`` at ``/v1/artifacts/<id>`` and no local path."""
    data = result.model_dump(mode="json")
    data["artifacts"] = {h: _public_artifact(a) for h, a in data["artifacts"].items()}
    return data


def public_artifacts(artifacts: dict[str, ArtifactInfo]) -> dict[str, Any]:
    """A session's artifact table (with lineage) as the API shows it."""
    return {h: _public_artifact(a.model_dump(mode="json")) for h, a in artifacts.items()}


def public_event(event: Event) -> str:
    """An event's JSON; a RunFinished carries the public Result."""
    if event.type == "end":
        return json.dumps({"type": "end", "result": public_result(event.result)})
    return event.model_dump_json()


def artifact_grants(artifacts: dict[str, ArtifactInfo]) -> list[tuple[str, str, str]]:
    """(id, kind, uri) of each artifact, for the task store's record of who may read what."""
    return [(a.id, a.kind, artifact_uri(a.kind, a.id)) for a in artifacts.values()]


def absolute(result: dict[str, Any], base: str) -> dict[str, Any]:
    """``result`` (public JSON) with its artifact URLs made absolute under ``base``."""
    root = base.rstrip("/")
    artifacts = result.get("artifacts") or {}
    fixed = {
        h: {**a, "url": root + a["url"] if a.get("url", "").startswith("/") else a.get("url", "")}
        for h, a in artifacts.items()
    }
    return {**result, "artifacts": fixed}


def failed_result(session: str, task: str, message: str) -> Result:
    """The Result of a task that could not start (its session was busy, the service stopped …)."""
    return Result(
        session=session,
        run_id="",
        task=task,
        status="failed",
        answer=None,
        failure=message,
        artifacts={},
        steps=[],
        controller="",
        replay=False,
        seconds=0.0,
    )
