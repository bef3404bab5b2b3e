"""The typed LangGraph state of a session: its multimodal context memory.

Everything here is plain data (dicts, lists, strings, numbers) so any checkpointer can
persist it. Reducers: the transcript and the steps are append-only, the artifact table
merges by handle (a handle, once given, never changes meaning), run records merge by run id.

The session's history (transcript, steps, artifacts, runs) lives in LangGraph
:class:`~langgraph.channels.DeltaChannel` channels: a checkpoint stores what its step added (the
node's writes), not the history again, and LangGraph rebuilds a value from the nearest snapshot
plus the writes after it. A full snapshot is stored every :data:`SNAPSHOT_EVERY` updates of a
channel, so a read replays at most that many writes. Checkpoints written before these channels
existed (a full value in every checkpoint) load as they are: the stored value seeds the channel.

Transcript writes travel sealed (:func:`seal`: ``{"append": [...]}``): LangGraph turns a list of
message-shaped dicts written to a DeltaChannel into LangChain message objects, and the transcript
stays plain JSON. The graph seals every node's update (``orchestrator/agent/graph.py``); code that
writes the state from outside the graph (the runner's run input, ``update_state``) seals its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langgraph.channels import DeltaChannel

from experts.protocol import ErrorKind
from orchestrator.storage.artifacts import ArtifactRecord

__all__ = [
    "SNAPSHOT_EVERY",
    "AgentState",
    "Message",
    "Outcome",
    "PendingCall",
    "Produced",
    "RunLimits",
    "RunRecord",
    "Sealed",
    "StepErrorKind",
    "StepRecord",
    "append_all",
    "highest_counts",
    "merge_artifact_batches",
    "merge_artifacts",
    "merge_dicts",
    "merge_run_batches",
    "merge_runs",
    "seal",
]

SNAPSHOT_EVERY = {"transcript": 200, "steps": 150, "artifacts": 100, "runs": 100}
"""Updates of each history channel between two full snapshots of it: about every fifty short tasks
(a task writes the transcript about four times, steps three times, artifacts and runs twice; every
run writes each of them at least once). A snapshot costs the whole history once, so a rarer one
costs less per turn; reading a session cold replays the checkpoints since the oldest of the latest
snapshots. A process that ran the session's last run does not replay (``recent.py``)."""


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
    attempts: int
    """How often the call was sent: 2 when its replica died (or its input pixels were lost) and it
    was sent once more."""


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
    attempts: int
    """How often the call was sent (2: it was sent again after its replica died)."""
    plan_step: int | None
    """The id of the plan step the call ran (None: a controller's own call)."""
    map_index: int | None
    """For a map step's call, the index of its item (from 0)."""


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
    return merge_run_batches(current, [update])


def merge_run_batches(current: list[RunRecord], updates: Sequence[list[RunRecord]]) -> list[RunRecord]:
    """:func:`merge_runs` over a batch of updates, oldest first (the ``runs`` channel's reducer)."""
    merged = list(current or [])
    where = {record["run_id"]: i for i, record in enumerate(merged)}
    for update in updates:
        for record in update or []:
            i = where.get(record["run_id"])
            if i is None:
                where[record["run_id"]] = len(merged)
                merged.append(record)
            else:
                merged[i] = {**merged[i], **record}
    return merged


def append_all(current: list[Any], updates: Sequence[list[Any]]) -> list[Any]:
    """The append-only channels' reducer: every update's items after the current ones, in order.

    An update may be sealed (``{"append": [...]}``, see :func:`seal`) or a plain list.
    """
    added = [item for update in updates for item in _unsealed(update)]
    return [*(current or []), *added]


class Sealed(TypedDict):
    """Transcript entries on their way into the state, wrapped so LangGraph keeps them plain dicts."""

    append: list[Message]


def seal(update: dict[str, Any]) -> dict[str, Any]:
    """``update`` with its ``transcript`` entries sealed (a copy; other fields untouched)."""
    entries = update.get("transcript")
    if not isinstance(entries, list):
        return update
    sealed: Sealed = {"append": entries}
    return {**update, "transcript": sealed}


def _unsealed(update: Any) -> list[Any]:
    if isinstance(update, dict):
        return list(update.get("append") or [])
    return list(update or [])


def merge_dicts(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Shallow merge; ``None`` as the update clears the mapping (a new plan starts)."""
    if update is None:
        return {}
    return {**(current or {}), **update}


def merge_artifacts(
    current: dict[str, ArtifactRecord], update: dict[str, ArtifactRecord]
) -> dict[str, ArtifactRecord]:
    """Add new artifact records; a handle already taken keeps its first record."""
    return merge_artifact_batches(current, [update])


def merge_artifact_batches(
    current: dict[str, ArtifactRecord], updates: Sequence[dict[str, ArtifactRecord]]
) -> dict[str, ArtifactRecord]:
    """:func:`merge_artifacts` over a batch of updates, oldest first (the ``artifacts`` channel's reducer)."""
    merged = dict(current or {})
    for update in updates:
        for handle, record in (update or {}).items():
            merged.setdefault(handle, record)
    return merged


def highest_counts(current: dict[str, int], update: dict[str, int]) -> dict[str, int]:
    """Per artifact kind, the highest handle number given so far (``handle_counts``' reducer)."""
    merged = dict(current or {})
    for kind, number in (update or {}).items():
        merged[kind] = max(number, merged.get(kind, 0))
    return merged


class RunLimits(TypedDict):
    """The limits a run started with; checkpointed so that a resumed (or approved) run keeps them."""

    max_steps: int
    """The run's budget of controller turns (a plan's: its number of steps)."""
    recursion_limit: int
    """LangGraph's superstep limit for the run."""
    deadline_at: float | None
    """Wall-clock time (``time.time()``) after which the run issues no more calls; None: no deadline."""


def _history(reducer: Any, field: str) -> DeltaChannel[Any]:
    return DeltaChannel(reducer, snapshot_frequency=SNAPSHOT_EVERY[field])


class AgentState(TypedDict, total=False):
    """Session state. Per-run fields are reset by the SDK at the start of each run."""

    run_id: str
    task: str
    transcript: Annotated[list[Message], _history(append_all, "transcript")]
    artifacts: Annotated[dict[str, ArtifactRecord], _history(merge_artifact_batches, "artifacts")]
    steps: Annotated[list[StepRecord], _history(append_all, "steps")]
    runs: Annotated[list[RunRecord], _history(merge_run_batches, "runs")]
    handle_counts: Annotated[dict[str, int], highest_counts]
    """Per kind, the highest handle number given (``image`` → 4 once ``image-4`` exists); missing in
    sessions from before it existed (then the artifact table is read once)."""
    limits: RunLimits
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
