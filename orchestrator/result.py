"""What a run returns: the answer, the artifacts with lineage, and the trace of every step."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from experts.protocol import PIXEL_KINDS
from orchestrator.storage.artifacts import ArtifactRecord, ArtifactStore, artifact_uri

if TYPE_CHECKING:  # the state's types only: the agent's modules (and LangGraph) stay off the client path
    from orchestrator.agent.state import StepRecord

__all__ = ["SAVED_KINDS", "ArtifactInfo", "PlanNode", "Result", "Step", "describe_artifact"]

SAVED_KINDS: tuple[str, ...] = (*PIXEL_KINDS, "boxes", "text")
"""What ``Result.save_artifacts`` writes by default: every kind but videos."""


def describe_artifact(record: ArtifactRecord) -> str:
    """One line for the artifact table the controller reads."""
    kind, shape = record["kind"], record["shape"]
    if kind == "video":  # [width, height, frames, duration in ms]
        seconds = shape[3] / 1000
        fps = f", {shape[2] / seconds:.3g} fps" if seconds else ""
        size = f"{shape[0]}x{shape[1]}, {shape[2]} frames, {seconds:.3g} s{fps}"
    elif kind in PIXEL_KINDS:
        size = f"{shape[0]}x{shape[1]}"
    else:
        size = f"{shape[0]} {'items' if kind == 'boxes' else 'chars'}"
    if record["producer"] == "input":
        origin = f"input {kind}" + (f" for {', '.join(record['parents'])}" if record["parents"] else "")
    else:
        origin = f"from {record['producer']} (step {record['producer_step']})"
        if record["parents"]:
            origin += " of " + ", ".join(record["parents"])
    return f"- {record['handle']}: {kind} {size}, {origin}"


class ArtifactInfo(BaseModel):
    """An artifact of the session: its handle, kind, size and lineage, and where its bytes are."""

    model_config = ConfigDict(frozen=True)

    handle: str
    id: str
    kind: str
    shape: list[int]
    producer_step: int
    producer: str
    parents: list[str]
    path: Path | None
    """Where the bytes are on local disk; None when the store is an object store (see ``url``)."""
    url: str = ""
    """The artifact's URL: ``file://…`` for a local store, else the store's URL (``s3://…``)."""
    _origin: ArtifactStore | None = PrivateAttr(default=None)

    @classmethod
    def from_record(cls, record: ArtifactRecord, store: ArtifactStore) -> ArtifactInfo:
        """The public view of a session's artifact record, located in ``store``."""
        path = store.path_of(record) if store.is_local else None
        info = cls.model_validate({**record, "path": path, "url": store.url_of(record)})
        info._origin = store  # a plugin store cannot be found again from the URL alone
        return info

    def located(self, store: ArtifactStore) -> ArtifactInfo:
        """This artifact, its bytes read from ``store`` (the remote ``Client`` gives its HTTP store)."""
        info = self.model_copy()
        info._origin = store
        return info

    def _store(self) -> ArtifactStore:
        if self._origin is not None:
            return self._origin
        if self.path is not None:
            return ArtifactStore(self.path.parents[1])
        return ArtifactStore(self.url.rsplit("/", 2)[0])

    def load(self) -> Any:
        """The value: RGB uint8 array (image), bool array (mask), list of boxes, or text."""
        return self._store().load(self._record())

    def _record(self) -> ArtifactRecord:
        return {
            "handle": self.handle,
            "id": self.id,
            "kind": self.kind,
            "shape": self.shape,
            "producer_step": self.producer_step,
            "producer": self.producer,
            "parents": self.parents,
            "uri": artifact_uri(self.kind, self.id),  # content-addressed: the same under any root
        }

    def save(self, directory: str | Path) -> Path:
        """Write the artifact into ``directory`` (created if need be) as ``<handle>.<ext>``: images, masks
        and maps as ``.png``, boxes as ``.json`` (a list of items), text as ``.txt`` (UTF-8)."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        if self.kind == "text":
            target = Path(directory) / f"{self.handle}.txt"
            target.write_text(str(self.load()), encoding="utf-8")
            return target
        target = Path(directory) / f"{self.handle}{Path(artifact_uri(self.kind, self.id)).suffix}"
        if self.path is not None:
            shutil.copyfile(self.path, target)
        else:
            target.write_bytes(self._store().read_bytes(self._record()))
        return target


class Step(BaseModel):
    """One step of the trace."""

    index: int
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
    error_type: str | None = None
    """Whose problem the error is: ``arguments``, ``input``, ``expert``, ``timeout``, ``resource``
    (see ``experts.protocol.ErrorKind``), ``denied``, ``cancelled`` or ``controller``."""
    traceback: str | None = None
    """The expert's traceback when it failed (the controller saw only ``error``)."""
    repairs: list[str] = []
    """What the parser repaired in the controller's reply that asked for this step."""
    answers_task: bool = False
    """The call handed the user's whole task to an expert that answers tasks end to end."""
    attempts: int = 1
    """How often the call was sent: 2 when its replica died before answering and the call, being
    idempotent, was sent again to a live replica."""
    plan_step: int | None = None
    """The id of the plan step this call ran (None: a call the controller asked for itself)."""
    map_index: int | None = None
    """For a call of a map step, the index of its item (from 0)."""


class PlanNode(BaseModel):
    """A step of a plan the run accepted, and the trace step that ran it."""

    id: int
    tool: str
    arguments: dict[str, Any]
    dependencies: list[int]
    map: list[str] | None = None
    """The arguments a map step maps over (one call per item); None for a single call."""
    step: int | None = None
    """The ``index`` of the trace step that ran it (a map step's first item); None when it did not run."""
    steps: list[int] = []
    """Every trace step that ran it, in order (a map step's calls, one per item)."""


class Result(BaseModel):
    """The outcome of ``Orchestrator.run``."""

    session: str
    run_id: str
    task: str
    status: Literal["answered", "failed", "cancelled", "pending"]
    """``pending``: waiting for a person to approve a call (``approve()``/``deny()`` resume it)."""
    answer: str | None
    failure: str | None
    artifacts: dict[str, ArtifactInfo]
    steps: list[Step]
    controller: str
    replay: bool
    route: Literal["mllm", "tools", "none"] = "none"
    """How the task was solved: ``mllm`` (sent whole to the end-to-end MLLM), ``tools``, or ``none``."""
    seconds: float
    plan_repairs: list[str] = []
    """What was repaired in an explicit plan before it ran (``run_plan``)."""
    interrupted_runs: list[str] = []
    """Earlier runs of this session that a stopped process left unfinished (recorded as interrupted)."""
    approval: list[dict[str, Any]] = []
    """The calls waiting for approval when ``status == "pending"``."""
    plans: list[list[PlanNode]] = []
    """Every plan the run accepted (``run_plan``'s, or a controller's; a re-plan adds one), in order."""

    @property
    def ok(self) -> bool:
        return self.status == "answered"

    def new_artifacts(self) -> dict[str, ArtifactInfo]:
        """Artifacts this run produced (not its inputs or earlier runs' artifacts)."""
        produced = {h for step in self.steps for h in step.new_handles}
        return {h: a for h, a in self.artifacts.items() if h in produced}

    def save_artifacts(self, directory: str | Path, kinds: tuple[str, ...] = SAVED_KINDS) -> list[Path]:
        """Write this run's new artifacts of ``kinds`` into ``directory``, which is created even when
        there are none: images, masks and maps as PNG, boxes as JSON, texts as ``.txt`` (see
        :meth:`ArtifactInfo.save`). Videos only when ``kinds`` names ``video``."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        return [a.save(directory) for a in self.new_artifacts().values() if a.kind in kinds]

    def save_report(self, path: str | Path) -> Path:
        """Write a self-contained HTML report of this run (images inlined, opens offline) to ``path``."""
        from orchestrator.service.report import save_report

        return save_report(self, path)

    @classmethod
    def from_state(
        cls,
        values: dict[str, Any],
        *,
        session: str,
        store: ArtifactStore,
        controller: str,
        replay: bool,
        seconds: float,
        pending: bool = False,
        plans: list[list[dict[str, Any]]] | None = None,
        artifact_info: Callable[[ArtifactRecord], ArtifactInfo] | None = None,
    ) -> Result:
        """``artifact_info`` makes each artifact's public view (default: :meth:`ArtifactInfo.from_record`);
        a caller running many tasks on one session passes one that reuses the views it made before."""
        run_id = values["run_id"]
        steps: list[StepRecord] = [s for s in values.get("steps", []) if s["run_id"] == run_id]
        info = artifact_info or (lambda record: ArtifactInfo.from_record(record, store))
        artifacts = {h: info(r) for h, r in values.get("artifacts", {}).items()}
        status: Literal["answered", "failed", "cancelled", "pending"] = "failed"
        if pending:
            status = "pending"
        elif values.get("status") in ("answered", "cancelled"):
            status = values["status"]
        return cls(
            session=session,
            run_id=run_id,
            task=values["task"],
            status=status,
            answer=values.get("answer"),
            failure=values.get("failure"),
            artifacts=artifacts,
            steps=[Step.model_validate(s) for s in steps],
            controller=controller,
            replay=replay,
            route=_route(steps),
            seconds=seconds,
            approval=[{"tool": c["tool"], "arguments": c["arguments"]} for c in values.get("pending") or []]
            if pending
            else [],
            plans=_link_plans(plans or ([values["plan"]] if values.get("plan") else []), steps),
        )


_PLAN_STEP = re.compile(r"plan step (\d+)\b")  # the thought of a step recorded before ``plan_step`` was


def _plan_step_of(step: StepRecord) -> int | None:
    if "plan_step" in step:
        return step["plan_step"]
    match = _PLAN_STEP.match(step["thought"])
    return int(match.group(1)) if match else None


def _link_plans(plans: list[list[dict[str, Any]]], steps: list[StepRecord]) -> list[list[PlanNode]]:
    """The plans with, for each plan step, the trace steps that ran it (``StepRecord.plan_step``)."""
    if not plans:
        return []
    nodes = [[PlanNode.model_validate(s) for s in plan] for plan in plans]
    accepted = [s["index"] for s in steps if not s["tool"] and s["observation"].startswith("plan accepted")]
    # A plan given with the run (run_plan) starts before any plan a controller turn accepted.
    starts = ([0] * max(0, len(plans) - len(accepted)) + accepted)[-len(plans) :]
    for step in steps:
        plan_step = _plan_step_of(step)
        if step["tool"] is None or plan_step is None:
            continue
        current = max((k for k, start in enumerate(starts) if start <= step["index"]), default=None)
        if current is None:
            continue
        for node in nodes[current]:
            if node.id == plan_step and (node.step is None or node.map):
                node.steps.append(step["index"])
                node.step = node.steps[0]
    return nodes


def _route(steps: list[StepRecord]) -> Literal["mllm", "tools", "none"]:
    calls = [s for s in steps if s["tool"]]
    if not calls:
        return "none"
    if all(s.get("answers_task") for s in calls):
        return "mllm"
    return "tools"
