"""The typed LangGraph state of a session: its multimodal context memory.

Everything here is plain data (dicts, lists, strings, numbers) so any checkpointer can
persist it. Reducers: the transcript and the steps are append-only, the artifact table
merges by handle (a handle, once given, never changes meaning), run records merge by run id.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from experts.protocol import ErrorKind
from orchestrator.storage.artifacts import ArtifactRecord

__all__ = [
    "AgentState",
    "Message",
    "Outcome",
    "PendingCall",
    "Produced",
    "RunRecord",
    "StepErrorKind",
    "StepRecord",
    "merge_artifacts",
    "merge_dicts",
    "merge_runs",
]


class _MessageBase(TypedDict):
    role: str
    content: str


class Message(_MessageBase, total=False):
    """A transcript entry: the task (user), a controller turn (assistant) or an observation (user).

    Native tool calling adds ``tool_calls`` to an assistant entry and answers each call with a
    ``tool`` entry carrying its ``tool_call_id`` (see ``orchestrator/agent/tool_calling.py``).
    """

    tool_calls: list[dict[str, Any]]
    tool_call_id: str


StepErrorKind = Literal[ErrorKind, "denied", "cancelled", "controller"]
"""Why a step failed: a :data:`~experts.protocol.ErrorKind` of the call, a person ``denied`` it, the run
was ``cancelled`` (or its deadline passed) before it ran, or the ``controller`` failed or its reply
could not be used."""


class PendingCall(TypedDict, total=False):
    """A tool call the controller asked for (or a plan step), waiting for the act node."""

    tool: str
    arguments: dict[str, Any]
    thought: str
    plan_step: int
    map_index: int
    """The item of a map step this call runs (``orchestrator/agent/plan_map.py``)."""
    call_id: str
    repairs: list[str]
    """What the parser repaired in the controller turn that asked for this call (its first call only)."""


class Produced(TypedDict):
    """A new artifact of a call on its way from act to observe: where it goes in the output, what it is."""

    path: list[str | int]
    kind: str
    id: str
    shape: list[int]
    uri: str
    summary: dict[str, Any]


class Outcome(TypedDict):
    """What one tool call produced. ``output`` has ``None`` where each of ``artifacts`` goes; their
    bytes are in the store, or on their way there (the run's artifact writer)."""

    call: PendingCall
    ok: bool
    output: Any
    artifacts: list[Produced]
    error: str | None
    error_type: StepErrorKind | None
    traceback: str | None
    parents: list[str]
    replica: str | None
    started_at: float
    seconds: float


class _StepRecordBase(TypedDict):
    index: int
    run_id: str
    turn: int
    thought: str
    tool: str | None
    arguments: dict[str, Any]
    observation: str
    started_at: float
    seconds: float
    replica: str | None
    error: str | None
    new_handles: list[str]


class StepRecord(_StepRecordBase, total=False):
    """One step of the trace: a controller turn's thought and one tool call (or the answer).

    The optional fields are missing from steps recorded before they existed.
    """

    error_type: StepErrorKind | None
    traceback: str | None
    """The expert's traceback when it failed (``error_type == "expert"``); never shown to the controller."""
    repairs: list[str]
    """What the parser repaired in the controller's reply (on the first step of that turn)."""
    answers_task: bool
    """The call handed the user's whole task to an expert that answers tasks end to end."""


class _RunKey(TypedDict):
    run_id: str


class RunRecord(_RunKey, total=False):
    """One run of the session: written when it starts, completed when it ends (merged by ``run_id``).

    ``transcript_start`` is the index of the run's task message in the transcript; ``inputs`` are the
    handles of the images given with the task; ``status`` is ``running`` until the run ends
    (``answered``, ``failed``, ``cancelled`` or ``interrupted``, with ``answer`` or ``failure``).
    """

    task: str
    inputs: list[str]
    transcript_start: int
    status: str
    answer: str | None
    failure: str | None


def merge_runs(current: list[RunRecord], update: list[RunRecord]) -> list[RunRecord]:
    """Append new run records; a record for a run already listed updates its fields (the run's end)."""
    merged = list(current or [])
    where = {record["run_id"]: i for i, record in enumerate(merged)}
    for record in update or []:
        i = where.get(record["run_id"])
        if i is None:
            where[record["run_id"]] = len(merged)
            merged.append(record)
        else:
            merged[i] = {**merged[i], **record}
    return merged


def merge_dicts(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Shallow merge; ``None`` as the update clears the mapping (a new plan starts)."""
    if update is None:
        return {}
    return {**(current or {}), **update}


def merge_artifacts(
    current: dict[str, ArtifactRecord], update: dict[str, ArtifactRecord]
) -> dict[str, ArtifactRecord]:
    """Add new artifact records; a handle already taken keeps its first record."""
    merged = dict(current or {})
    for handle, record in (update or {}).items():
        merged.setdefault(handle, record)
    return merged


class AgentState(TypedDict, total=False):
    """Session state. Per-run fields are reset by the SDK at the start of each run."""

    run_id: str
    task: str
    transcript: Annotated[list[Message], operator.add]
    artifacts: Annotated[dict[str, ArtifactRecord], merge_artifacts]
    steps: Annotated[list[StepRecord], operator.add]
    runs: Annotated[list[RunRecord], merge_runs]
    turn: int
    parse_failures: int
    pending: list[PendingCall]
    outcomes: list[Outcome]
    answer: str | None
    status: str
    failure: str | None
    plan: list[dict[str, Any]] | None
    plan_results: Annotated[dict[str, Any], merge_dicts]
    replans: int
    pipeline: bool
