"""The REST API under ``/v1``: tasks, their events, artifacts, sessions and the expert catalogue.

Every route needs a bearer API key; a task, a session or an artifact of another key does not exist
for the caller (404).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from orchestrator.checks import check_session
from orchestrator.errors import InputError
from orchestrator.service.form_inputs import check_videos, named_inputs
from orchestrator.service.host import ServiceHost
from orchestrator.service.limits import ApiError
from orchestrator.service.media import video_type
from orchestrator.service.tasks import Submission
from orchestrator.service.taskstore import FINAL
from orchestrator.service.uploads import TaskForm, read_task_form
from orchestrator.service.views import absolute, public_artifacts

__all__ = ["router"]

router = APIRouter(prefix="/v1")
_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer <key>`")
_ARTIFACT_ID = re.compile(r"^[0-9a-f]{64}$")
_TYPES = {"boxes": "application/json", "text": "application/json"}  # pixel kinds: PNG; video: sniffed
_FILE = {"type": "array", "items": {"type": "string", "format": "binary"}}
_TASK_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "task": {"type": "string", "description": "what to do, in words"},
                        "images": _FILE,
                        "videos": _FILE | {"description": "mp4, webm, avi, mov, mkv or animated GIF"},
                        "session": {"type": "string", "description": "continue this session"},
                        "max_steps": {"type": "integer", "minimum": 1, "maximum": 200},
                        "deadline_s": {"type": "number", "exclusiveMinimum": 0},
                        "plan": {"type": "string", "description": "JSON list of plan steps: run with no LLM"},
                        "for": {
                            "type": "string",
                            "description": "JSON: the image or video each mask or boxes input is for, e.g. "
                            '{"mask-1": "image-2"}',
                        },
                    },
                    "patternProperties": {
                        "^(image|video|mask)-[1-9][0-9]*$": {"type": "string", "format": "binary"},
                        "^text-[1-9][0-9]*$": {"type": "string", "description": "a text input"},
                        "^boxes-[1-9][0-9]*$": {"type": "string", "description": "JSON list of boxes"},
                    },
                }
            }
        },
    }
}


def host_of(request: Request) -> ServiceHost:
    return request.app.state.host


def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The owner id of the request's API key (401 without a valid one, 429 over its rate)."""
    return host_of(request).authenticate(request.headers.get("authorization"))


Owner = Annotated[str, Depends(caller)]


async def owned_task(request: Request, task_id: str, owner: Owner) -> dict[str, Any]:
    """The task's record when the caller's key made it (checked before a stream starts); else 404."""
    return await run_in_threadpool(host_of(request).tasks.owned, owner, task_id)


class Decision(BaseModel):
    """Why a person approved or denied (the controller reads it)."""

    reason: str | None = None


def _number(form: TaskForm, name: str, kind: type) -> Any:
    text = form.fields.get(name, "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ApiError(
            422, f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None


def _submission(owner: str, form: TaskForm) -> Submission:
    plan = None
    if form.fields.get("plan", "").strip():
        try:
            plan = json.loads(form.fields["plan"])
        except json.JSONDecodeError as err:
            raise ApiError(422, f"plan is not valid JSON: {err}") from None
    task = form.fields.get("task", "").strip() or None
    if plan is None and task is None:
        raise ApiError(
            422, "give a 'task' (what to do, in words) or a 'plan' (JSON steps to run with no LLM)"
        )
    try:
        session = (
            check_session(form.fields["session"].strip()) if form.fields.get("session", "").strip() else None
        )
    except InputError as err:
        raise ApiError(422, str(err)) from None
    return Submission(
        owner=owner,
        task=task,
        images=form.images,
        videos=form.videos,
        inputs=named_inputs(form),
        session=session,
        max_steps=_number(form, "max_steps", int),
        deadline_s=_number(form, "deadline_s", float),
        plan=plan,
    )


def _links(record: dict[str, Any]) -> dict[str, Any]:
    task_id = record["task_id"]
    return {**record, "result": f"/v1/tasks/{task_id}", "events": f"/v1/tasks/{task_id}/events"}


@router.post("/tasks", status_code=202, openapi_extra=_TASK_FORM, summary="Submit a task (or a plan)")
async def create_task(request: Request, owner: Owner) -> JSONResponse:
    """Upload images, videos, named inputs and a task (or a ``plan``); answers 202 with the task id at
    once, the run goes on."""
    host = host_of(request)
    form = await read_task_form(
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
        host.uploads,
    )
    if form.all_videos():
        await run_in_threadpool(check_videos, form, host.uploads)
    record = await run_in_threadpool(host.tasks.submit, _submission(owner, form))
    return JSONResponse(
        _links(record), status_code=202, headers={"Location": f"/v1/tasks/{record['task_id']}"}
    )


@router.get("/tasks/{task_id}", summary="A task's Result")
async def get_task(
    request: Request, task_id: str, owner: Owner, wait: Annotated[float, Query(ge=0, le=60)] = 0
) -> JSONResponse:
    """The Result (the SDK's schema; artifacts carry URLs) once the task ended or waits for approval;
    until then 202 with its status. ``wait``: hold the request up to that many seconds for the end."""
    host = host_of(request)
    record = await run_in_threadpool(host.tasks.owned, owner, task_id)
    deadline = time.monotonic() + wait
    while record["status"] not in FINAL and time.monotonic() < deadline:
        await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        record = await run_in_threadpool(host.tasks.owned, owner, task_id)
    if record["status"] in FINAL and record["result"] is not None:
        body = absolute(record["result"], str(request.base_url)) | {"task_id": task_id}
        return JSONResponse(body, headers={"X-Task-Status": record["status"]})
    view = {k: record[k] for k in ("task_id", "session", "status", "task", "created_at")}
    return JSONResponse(
        _links(view), status_code=202, headers={"Retry-After": "1", "X-Task-Status": record["status"]}
    )


@router.get("/tasks/{task_id}/events", response_class=EventSourceResponse, summary="A task's events (SSE)")
async def task_events(
    request: Request,
    task_id: str,
    record: Annotated[dict[str, Any], Depends(owned_task)],
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: one per typed event (``event:`` its type, ``id:`` its number), ending with
    ``end`` (the Result). Resume with the ``Last-Event-ID`` header (or ``?after=N``)."""
    host = host_of(request)
    resume = last_event_id or ""
    start = after if after is not None else int(resume) if resume.isdigit() else 0
    base = str(request.base_url)
    async for seq, kind, data in host.tasks.follow(task_id, start):
        if kind == "end":
            payload = json.loads(data)
            data = json.dumps({"type": "end", "result": absolute(payload["result"], base)})
        yield ServerSentEvent(raw_data=data, event=kind, id=str(seq))


@router.post("/tasks/{task_id}/approve", status_code=202, summary="Approve the calls a task waits for")
async def approve(
    request: Request, task_id: str, owner: Owner, decision: Decision | None = None
) -> JSONResponse:
    record = await run_in_threadpool(
        host_of(request).tasks.decide, owner, task_id, True, decision.reason if decision else None
    )
    return JSONResponse(_links(record), status_code=202)


@router.post("/tasks/{task_id}/deny", status_code=202, summary="Deny the calls a task waits for")
async def deny(
    request: Request, task_id: str, owner: Owner, decision: Decision | None = None
) -> JSONResponse:
    record = await run_in_threadpool(
        host_of(request).tasks.decide, owner, task_id, False, decision.reason if decision else None
    )
    return JSONResponse(_links(record), status_code=202)


@router.post("/tasks/{task_id}/cancel", summary="Cancel a queued or running task")
async def cancel(request: Request, task_id: str, owner: Owner) -> dict[str, Any]:
    return await run_in_threadpool(host_of(request).tasks.cancel, owner, task_id)


@router.get("/artifacts/{artifact_id}", summary="An artifact's bytes", response_class=Response)
async def artifact(request: Request, artifact_id: str, owner: Owner) -> Response:
    """PNG for images, masks and maps, JSON for boxes and texts, the file as uploaded for a video (its
    type read from its first bytes); the ETag is the content hash."""
    host = host_of(request)
    found = (
        await run_in_threadpool(host.store.artifact_for, artifact_id, owner)
        if _ARTIFACT_ID.match(artifact_id)
        else None
    )
    if found is None:
        raise ApiError(404, f"no artifact {artifact_id!r}")
    kind, uri = found
    etag = f'"{artifact_id}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    record = {
        "handle": artifact_id[:12],
        "id": artifact_id,
        "kind": kind,
        "shape": [],
        "producer_step": 0,
        "producer": "",
        "parents": [],
        "uri": uri,
    }
    try:
        data = await run_in_threadpool(host.orch.store.read_bytes, record)  # type: ignore[arg-type]
    except FileNotFoundError as err:
        raise ApiError(410, str(err)) from None
    media_type = video_type(data) if kind == "video" else _TYPES.get(kind, "image/png")
    return Response(data, media_type=media_type, headers=headers)


@router.get("/sessions", summary="Your sessions")
async def sessions(request: Request, owner: Owner) -> dict[str, Any]:
    return {"sessions": await run_in_threadpool(host_of(request).store.sessions, owner)}


@router.get("/sessions/{session}", summary="A session: its tasks, transcript and artifacts with lineage")
async def session_view(
    request: Request,
    session: str,
    owner: Owner,
    transcript: Annotated[str, Query(pattern="^(summary|full)$")] = "summary",
) -> dict[str, Any]:
    host = host_of(request)
    if await run_in_threadpool(host.store.session_owner, session) != owner:
        raise ApiError(404, f"no session {session!r}")
    tasks = await run_in_threadpool(host.store.session_tasks, session)
    artifacts = await run_in_threadpool(host.orch.session_artifacts, session)
    messages = await run_in_threadpool(host.orch.session_transcript, session)
    base = str(request.base_url)
    shown: Any = (
        messages
        if transcript == "full"
        else {
            "messages": len(messages),
            "recent": [
                {"role": m.get("role"), "text": str(m.get("content", ""))[:300]} for m in messages[-6:]
            ],
        }
    )
    return {
        "session": session,
        "tasks": [{k: t[k] for k in ("task_id", "kind", "task", "status", "created_at")} for t in tasks],
        "transcript": shown,
        "artifacts": absolute({"artifacts": public_artifacts(artifacts)}, base)["artifacts"],
    }


@router.get("/experts", summary="The expert catalogue, with schemas and replica status")
async def experts(request: Request, owner: Owner) -> dict[str, Any]:
    return {"experts": await run_in_threadpool(host_of(request).experts)}
