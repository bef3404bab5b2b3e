"""The remote SDK: ``Client(url, api_key=…)`` runs tasks on a service (``reactor serve``) over HTTP.

It offers the local SDK's calls (run, run_plan, stream, session, approve, deny, cancel) and returns the
same :class:`Result` and event types; a result's artifacts load and save over HTTP. Nothing here
imports Ray or LangGraph, so a script (or ``reactor run --url``) that uses it starts in a moment.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import TypeAdapter

from orchestrator.checks import check_session
from orchestrator.config import default_data_dir
from orchestrator.errors import ConfigError, InputError, ReactorError
from orchestrator.events import Event
from orchestrator.result import ArtifactInfo, Result
from orchestrator.service.client_uploads import input_parts, media_parts
from orchestrator.service.keys import KEY_FILE
from orchestrator.service.sse import read_events
from orchestrator.session import Session
from orchestrator.storage.artifacts import ArtifactStore
from orchestrator.storage.blobs import ByteStore

__all__ = ["API_KEY_ENV", "Client", "ServiceError"]

API_KEY_ENV = "MM_REACTOR_API_KEY"
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)
_INPUT_STATUSES = (400, 413, 415, 422)


class ServiceError(ReactorError):
    """The service refused a request (401, 404, 409, 429, 5xx …); ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status


class _HttpBytes(ByteStore):
    """Artifact bytes read from the service's ``/v1/artifacts/<id>`` (read-only)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.url = f"{client.url}/v1/artifacts"

    def write(self, key: str, data: bytes) -> None:
        raise ServiceError(405, "artifacts of a service are read-only from a client")

    def read(self, key: str) -> bytes:
        return self.client.artifact(key.rsplit("/", 1)[-1].split(".", 1)[0])

    def url_of(self, key: str) -> str:
        return f"{self.url}/{key.rsplit('/', 1)[-1].split('.', 1)[0]}"


class Client:
    """A running mm-reactor service at ``url``; the key is ``api_key``, ``$MM_REACTOR_API_KEY``, or the
    one ``reactor serve --local`` keeps in ``<data_dir>/api-key``. Close it (or use ``with``)."""

    def __init__(
        self, url: str, api_key: str | None = None, *, timeout: float = 60.0, retries: int = 3
    ) -> None:
        self.url = url.rstrip("/")
        key = api_key or os.environ.get(API_KEY_ENV) or _key_from_file()
        if not key:
            raise ConfigError(
                f"no API key for {self.url}: pass api_key=…, set {API_KEY_ENV}, or run `reactor serve "
                f"--local` on this machine (it keeps its key in {default_data_dir() / KEY_FILE})"
            )
        self.retries = retries
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=httpx.Timeout(timeout)
        )
        self.store = ArtifactStore(_HttpBytes(self))

    # -- plumbing -------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as err:
                raise ServiceError(503, f"cannot reach the service at {self.url}: {err}") from None
            if response.status_code == 429 and attempt < self.retries:
                time.sleep(min(30.0, float(response.headers.get("Retry-After", "1") or 1)))
                continue
            break
        _raise_for(response)
        return response

    def _result(self, data: dict[str, Any]) -> Result:
        result = Result.model_validate(data)
        result.artifacts = {h: a.located(self.store) for h, a in result.artifacts.items()}
        return result

    # -- tasks ----------------------------------------------------------------------------------------
    def submit(
        self,
        task: str | None = None,
        images: Any = None,
        *,
        videos: Any = None,
        inputs: dict[str, Any] | None = None,
        session: str | None = None,
        max_steps: int | None = None,
        deadline_s: float | None = None,
        plan: Any = None,
    ) -> dict[str, Any]:
        """Queue a task (or a ``plan``) with its ``images``, ``videos`` and named ``inputs`` (as in the
        SDK); its record: ``task_id``, ``session``, ``status``."""
        fields = {"task": task, "session": session, "max_steps": max_steps, "deadline_s": deadline_s}
        if plan is not None:
            fields["plan"] = plan if isinstance(plan, str) else json.dumps(plan)
        parts: list[tuple[str, Any]] = [(k, (None, str(v))) for k, v in fields.items() if v is not None]
        parts += media_parts(images, videos) + input_parts(inputs)
        return self._request("POST", "/v1/tasks", files=parts).json()

    def events(self, task_id: str, after: int = 0) -> Iterator[Event]:
        """The task's typed events after number ``after``, as they happen, up to its ``end``."""
        for data in read_events(self._http, f"/v1/tasks/{task_id}/events", after, _raise_for):
            event = _EVENT.validate_json(data)
            if event.type == "end":
                event.result = self._result(event.result.model_dump(mode="json"))
            yield event

    def stream(self, task: str, images: Any = None, **options: Any) -> Iterator[Event]:
        """Submit a task and yield its events (the last is ``end`` with the Result); bad inputs raise here."""
        return self.events(self.submit(task, images, **options)["task_id"])

    def run(self, task: str, images: Any = None, **options: Any) -> Result:
        """Run one task to its Result (options: ``videos``, ``inputs``, ``session``, ``max_steps``,
        ``deadline_s``)."""
        return _last(self.stream(task, images, **options))

    def run_plan(
        self,
        plan: Any,
        images: Any = None,
        *,
        videos: Any = None,
        inputs: dict[str, Any] | None = None,
        session: str | None = None,
        task: str | None = None,
    ) -> Result:
        """Run an explicit plan with no LLM on the service (see ``Orchestrator.run_plan``)."""
        record = self.submit(task, images, videos=videos, inputs=inputs, session=session, plan=plan)
        return _last(self.events(record["task_id"]))

    def result(self, task_id: str, *, wait: float = 30.0) -> Result:
        """The task's Result, waiting for it to end (or to wait for approval)."""
        while True:
            response = self._request("GET", f"/v1/tasks/{task_id}", params={"wait": wait})
            if response.status_code == 200:
                return self._result(response.json())

    def cancel_task(self, task_id: str) -> bool:
        return bool(self._request("POST", f"/v1/tasks/{task_id}/cancel").json()["cancelled"])

    # -- sessions -------------------------------------------------------------------------------------
    def _session_view(self, session: str, transcript: str = "summary") -> dict[str, Any]:
        return self._request(
            "GET", f"/v1/sessions/{check_session(session)}", params={"transcript": transcript}
        ).json()

    def _task_of(self, session: str, statuses: tuple[str, ...]) -> str | None:
        tasks = [t for t in self._session_view(session)["tasks"] if t["status"] in statuses]
        return tasks[-1]["task_id"] if tasks else None

    def _decide(self, session: str, verb: str, reason: str | None) -> Result:
        task_id = self._task_of(session, ("pending",))
        if task_id is None:
            raise InputError(f"session {session!r} has no run waiting for approval")
        record = self._request("POST", f"/v1/tasks/{task_id}/{verb}", json={"reason": reason}).json()
        return _last(self.events(task_id, after=record.get("after", 0)))

    def approve(self, session: str, *, reason: str | None = None, **_: Any) -> Result:
        """Approve the calls the session's pending run waits for, and follow it to its Result."""
        return self._decide(session, "approve", reason)

    def deny(self, session: str, *, reason: str | None = None, **_: Any) -> Result:
        """Deny the calls the session's pending run waits for; the controller goes on without them."""
        return self._decide(session, "deny", reason)

    def resume(self, session: str, **_: Any) -> Result:
        raise InputError(
            "a service does not resume runs by request: a run its replica left unfinished is recorded as "
            "interrupted by the session's next task; run the task again"
        )

    def cancel(self, session: str) -> bool:
        """Stop the session's queued or running task; True if there was one."""
        task_id = self._task_of(session, ("queued", "running"))
        return self.cancel_task(task_id) if task_id else False

    def session(self, session: str | None = None) -> Session:
        """A handle on one session (``run``/``stream``/``approve`` … without repeating its id)."""
        return Session(self, check_session(session))

    def sessions(self) -> list[dict[str, Any]]:
        """This key's sessions, newest first."""
        return list(self._request("GET", "/v1/sessions").json()["sessions"])

    def session_tasks(self, session: str) -> list[dict[str, Any]]:
        """The session's tasks (id, task, status), oldest first."""
        return list(self._session_view(session)["tasks"])

    def session_artifacts(self, session: str) -> dict[str, ArtifactInfo]:
        artifacts = self._session_view(session)["artifacts"]
        return {h: ArtifactInfo.model_validate(a).located(self.store) for h, a in artifacts.items()}

    def session_transcript(self, session: str) -> list[dict[str, Any]]:
        return list(self._session_view(session, "full")["transcript"])

    # -- the rest -------------------------------------------------------------------------------------
    def artifact(self, artifact: str | ArtifactInfo) -> bytes:
        """An artifact's bytes (PNG for images and masks, JSON for boxes and texts, a video's file), by id
        or info."""
        artifact_id = artifact.id if isinstance(artifact, ArtifactInfo) else artifact
        return self._request("GET", f"/v1/artifacts/{artifact_id}").content

    def experts(self) -> list[dict[str, Any]]:
        """The service's experts: description, argument schema, replica status."""
        return list(self._request("GET", "/v1/experts").json()["experts"])

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _raise_for(response: httpx.Response) -> None:
    """InputError for a refused input (400, 413, 415, 422), ServiceError for any other failure."""
    if response.status_code < 400:
        return
    response.read()
    try:
        message = response.json().get("error") or response.text
    except ValueError:
        message = response.text or response.reason_phrase
    if response.status_code in _INPUT_STATUSES:
        raise InputError(message)
    raise ServiceError(response.status_code, message)


def _key_from_file() -> str | None:
    path = default_data_dir() / KEY_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _last(events: Iterator[Event]) -> Result:
    result = None
    for event in events:
        if event.type == "end":
            result = event.result
    if result is None:
        raise ServiceError(502, "the task's event stream ended without its result")
    return result
