"""The Python SDK: ``Orchestrator.local()`` / ``Orchestrator.connect()`` and ``run()``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langgraph.types import Command
from pydantic import ValidationError

from experts import deployment_defaults as defaults
from experts.base import Expert
from experts.registry import ExpertNotFound, load_expert_class
from llm.base import ChatMessage, ChatModel, LLMError
from llm.factory import build_chat_model
from orchestrator import preflight
from orchestrator.agent.graph import build_graph
from orchestrator.agent.input_artifacts import TaskInput, assign_handles
from orchestrator.agent.plan import PlanError, validate_plan
from orchestrator.agent.runner import Runner
from orchestrator.checks import check_deadline, check_max_steps, check_session, check_task
from orchestrator.config import ExpertDeployment, ReactorConfig, load_config
from orchestrator.errors import ConfigError, InputError
from orchestrator.events import Event
from orchestrator.named_inputs import collect_inputs
from orchestrator.result import ArtifactInfo, Result
from orchestrator.serving.runtime import ExpertRuntime
from orchestrator.session import Session
from orchestrator.storage.artifacts import open_artifact_store
from orchestrator.storage.checkpointing import open_checkpointer

__all__ = ["Orchestrator"]


class Orchestrator:
    """Runs multimodal tasks: a controller LLM plans over experts deployed on Ray Serve.

    Use :meth:`local` (embedded Ray, or the cluster in ``RAY_ADDRESS``) or :meth:`connect`,
    then :meth:`run`; close it (or use ``with``) to remove the experts it deployed.
    """

    def __init__(
        self, config: ReactorConfig, runtime: ExpertRuntime, chat_model: ChatModel | None = None
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.chat_model = chat_model
        self.store = open_artifact_store(config)
        self._checkpointer = open_checkpointer(config)
        self.graph = build_graph(self._checkpointer.saver)
        self.runner = Runner(self.graph, self.store, runtime.catalogue, config, self._checkpointer.leases)
        self._closed = False

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def local(
        cls,
        config: ReactorConfig | str | Path | dict | None = None,
        *,
        chat_model: ChatModel | None = None,
        deploy: bool = True,
        on_ready: Callable[[str, float], None] | None = None,
    ) -> Orchestrator:
        """Start (or join, with ``RAY_ADDRESS``) Ray and deploy the configured experts.

        The config is checked first (:mod:`orchestrator.preflight`): its mistakes fail before Ray
        starts. ``deploy=False`` uses the experts already running on the cluster (``reactor serve``)
        and leaves them running on :meth:`close`. ``on_ready(expert, seconds)`` hears of each expert
        as it starts running.
        """
        cfg = load_config(config)
        runtime = ExpertRuntime(cfg.ray)
        preflight.check(cfg, runtime, deploy=deploy, controller_given=chat_model is not None)
        runtime.start()
        try:
            if deploy:
                runtime.deploy(cfg.enabled_experts(), app_prefix=cfg.ray.app_prefix, on_ready=on_ready)
            else:
                runtime.attach(cfg.enabled_experts(), app_prefix=cfg.ray.app_prefix)
        except Exception:
            runtime.close()
            raise
        return cls(cfg, runtime, chat_model)

    @classmethod
    def connect(
        cls,
        address: str,
        config: ReactorConfig | str | Path | dict | None = None,
        *,
        chat_model: ChatModel | None = None,
        deploy: bool = True,
    ) -> Orchestrator:
        """Join the Ray cluster at ``address`` (``auto``, ``ray://host:10001`` …) and deploy there.

        With ``deploy=False`` it uses the experts ``reactor serve`` already deployed there.
        """
        cfg = load_config(config)
        cfg = cfg.model_copy(update={"ray": cfg.ray.model_copy(update={"address": address})})
        return cls.local(cfg, chat_model=chat_model, deploy=deploy)

    # -- queries ------------------------------------------------------------------------------------
    @property
    def experts(self) -> list[str]:
        """Names of the deployed experts the controller can call."""
        return self.runtime.catalogue.names()

    def add_expert(
        self,
        expert: type[Expert] | str,
        *,
        name: str | None = None,
        num_replicas: int | None = defaults.NUM_REPLICAS,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        options: dict[str, Any] | None = None,
        **deployment: Any,
    ) -> None:
        """Deploy an expert on the running cluster; the controller sees it from the next run on.

        ``expert`` is an Expert class or the name of a built-in one. ``deployment`` takes the
        config keys (``max_ongoing_requests``, ``timeout_s``, ``batching``, ``autoscaling_config``,
        ``ray_actor_options``). Re-adding a name redeploys it with the new settings.
        """
        try:
            expert_cls = load_expert_class(expert) if isinstance(expert, str) else expert
        except ExpertNotFound as err:
            raise ConfigError(str(err)) from err
        if not (isinstance(expert_cls, type) and issubclass(expert_cls, Expert)):
            raise ConfigError(
                f"add_expert needs an Expert subclass or a built-in expert name, got {expert!r}"
            )
        name = name or expert_cls.name
        actor_options = dict(deployment.pop("ray_actor_options", None) or defaults.ray_actor_options())
        if num_cpus is not None:
            actor_options["num_cpus"] = num_cpus
        if num_gpus is not None:
            actor_options["num_gpus"] = num_gpus
        try:
            entry = ExpertDeployment.model_validate(
                {"num_replicas": num_replicas, "ray_actor_options": actor_options, "options": options or {}}
                | deployment
            )
        except ValidationError as err:
            raise ConfigError(f"invalid deployment settings for expert '{name}':\n{err}") from err
        self.runtime.deploy({name: entry}, app_prefix=self.config.ray.app_prefix, classes={name: expert_cls})
        self.config.experts[name] = entry

    def remove_expert(self, name: str) -> None:
        """Delete an expert's deployment; the controller no longer sees it."""
        if name not in self.runtime.catalogue:
            raise ConfigError(f"no expert '{name}' is deployed; deployed: {', '.join(self.experts)}")
        self.runtime.undeploy(name)
        self.config.experts.pop(name, None)

    def system_prompt(self) -> str:
        """The controller's system prompt, with the catalogue generated from the deployed experts."""
        return self.runner.system_prompt()

    # -- running ------------------------------------------------------------------------------------
    def stream(
        self,
        task: str,
        images: Any = None,
        *,
        videos: Any = None,
        inputs: dict[str, Any] | None = None,
        session: str | None = None,
        max_steps: int | None = None,
        chat_model: ChatModel | None = None,
        deadline_s: float | None = None,
    ) -> Iterator[Event]:
        """Run a task, yielding typed events as they happen; the last is ``RunFinished`` with the Result.

        Bad inputs raise :class:`InputError` here, before the first event and before any work.
        """
        self._check_open()
        task = check_task(task)
        session = check_session(session)
        budget = check_max_steps(max_steps, self.config.max_steps)
        deadline = check_deadline(deadline_s, self.config.deadline_s)
        staged = self._inputs(session, images, videos, inputs)
        controller = self._controller(chat_model)
        return self.runner.start(task, staged, session, budget, controller, deadline_s=deadline)

    def run(
        self,
        task: str,
        images: Any = None,
        *,
        videos: Any = None,
        inputs: dict[str, Any] | None = None,
        session: str | None = None,
        max_steps: int | None = None,
        chat_model: ChatModel | None = None,
        deadline_s: float | None = None,
    ) -> Result:
        """Run one task to an answer or a clear failure (or ``pending`` approval).

        ``images``: one or a list of paths, PIL images, uint8 numpy arrays or encoded bytes;
        they become ``image-N`` artifacts. ``videos``: one or a list of video files (paths or bytes:
        mp4, webm, avi, mov, mkv, animated GIF) → ``video-N``. ``inputs``: named masks, boxes, texts
        (and images, videos) by handle, e.g. ``{"mask-1": array, "boxes-1": [[x0, y0, x1, y1]]}``
        (see :mod:`orchestrator.named_inputs`). Bad inputs raise :class:`InputError` before any work.
        ``session``: continue a session (its artifacts and transcript); a new one by default.
        ``deadline_s``: stop issuing tool calls after this many seconds (the result says so).
        """
        return _last(
            self.stream(
                task,
                images,
                videos=videos,
                inputs=inputs,
                session=session,
                max_steps=max_steps,
                chat_model=chat_model,
                deadline_s=deadline_s,
            )
        )

    def run_plan(
        self,
        plan: str | list | dict,
        images: Any = None,
        *,
        videos: Any = None,
        inputs: dict[str, Any] | None = None,
        session: str | None = None,
        task: str | None = None,
    ) -> Result:
        """Run an explicit plan with no LLM: the same validation, artifacts and trace as plan mode.

        ``plan`` is a list of steps ``{"id", "tool", "arguments", "dependencies"}`` (or JSON text of
        one); arguments may reference earlier outputs as ``<step-k>`` (or ``<step-k>.field``). An
        invalid plan raises :class:`InputError` listing every problem, before any work.
        """
        return _last(self.stream_plan(plan, images, videos=videos, inputs=inputs, session=session, task=task))

    def stream_plan(
        self,
        plan: str | list | dict,
        images: Any = None,
        *,
        videos: Any = None,
        inputs: dict[str, Any] | None = None,
        session: str | None = None,
        task: str | None = None,
    ) -> Iterator[Event]:
        """:meth:`run_plan`, yielding its events; an invalid plan raises here, before the first event."""
        self._check_open()
        session = check_session(session)
        task = check_task(task or "run the given plan")
        staged = self._inputs(session, images, videos, inputs)
        table = self.runner.table(session)
        handles = set(table) | {handle for handle, _ in assign_handles(table, staged)}
        try:
            checked = validate_plan(plan, self.runtime.catalogue, handles=handles)
        except PlanError as err:
            raise InputError("the plan cannot run:\n- " + "\n- ".join(err.problems)) from None
        budget = check_max_steps(max(1, len(checked.steps)), 200)
        extra: dict[str, Any] = {"plan": checked.to_json(), "plan_results": None, "pipeline": True}
        events = self.runner.start(task, staged, session, budget, _NoController(), extra=extra)
        return _with_plan_repairs(events, checked.repairs)

    def pending_run(self, session: str) -> dict[str, Any] | None:
        """The session's unfinished run (a stopped process, or waiting for approval), or None."""
        return self.runner.unfinished(check_session(session))

    def resume(self, session: str, *, chat_model: ChatModel | None = None) -> Result:
        """Finish a run that a stopped process left unfinished, from its last checkpoint."""
        self._check_open()
        return _last(self.runner.resume(check_session(session), self._controller(chat_model)))

    def approve(
        self, session: str, *, chat_model: ChatModel | None = None, reason: str | None = None
    ) -> Result:
        """Approve the calls a pending run waits for, and continue it (also from another process)."""
        return self._decide(session, True, reason, chat_model)

    def deny(self, session: str, *, reason: str | None = None, chat_model: ChatModel | None = None) -> Result:
        """Deny the calls a pending run waits for; the controller sees the denial and goes on."""
        return self._decide(session, False, reason, chat_model)

    def _decide(
        self, session: str, approved: bool, reason: str | None, chat_model: ChatModel | None
    ) -> Result:
        return _last(self.stream_decision(session, approved, reason=reason, chat_model=chat_model))

    def stream_decision(
        self, session: str, approved: bool, *, reason: str | None = None, chat_model: ChatModel | None = None
    ) -> Iterator[Event]:
        """:meth:`approve` (or :meth:`deny`) the pending calls, yielding the continued run's events."""
        self._check_open()
        session = check_session(session)
        unfinished = self.runner.unfinished(session)
        if unfinished is None or not unfinished["awaiting_approval"]:
            raise InputError(f"session {session!r} has no run waiting for approval")
        command: Command = Command(resume={"approved": approved, "reason": reason})
        return self.runner.resume(session, self._controller(chat_model), command=command)

    def cancel(self, session: str) -> bool:
        """Stop the session's running task (from another thread): no new calls; it keeps what it made."""
        return self.runner.cancel(session)

    def session(self, session: str | None = None) -> Session:
        """A handle on one session: ``run``/``stream``/``approve`` … without repeating its id."""
        return Session(self, check_session(session))

    def session_artifacts(self, session: str) -> dict[str, ArtifactInfo]:
        """Every artifact of ``session``, by handle, with lineage."""
        table = self.runner.table(check_session(session))
        return {h: ArtifactInfo.from_record(r, self.store) for h, r in table.items()}

    def session_transcript(self, session: str) -> list[dict[str, Any]]:
        """The whole stored transcript of ``session``."""
        return list(self.runner.values(check_session(session)).get("transcript", []))

    def _check_open(self) -> None:
        if self._closed:
            raise InputError("this orchestrator is closed; create a new one with Orchestrator.local()")

    def _inputs(self, session: str, images: Any, videos: Any, inputs: Any) -> list[TaskInput]:
        """The run's inputs, decoded and checked against the session (handles free, masks fitting)."""
        staged = collect_inputs(images, videos, inputs, self.config)
        assign_handles(self.runner.table(session), staged)
        return staged

    def _controller(self, override: ChatModel | None) -> ChatModel:
        model = override or self.chat_model
        if model is not None:
            return model
        try:
            self.chat_model = build_chat_model(self.config.controller)
        except LLMError as err:
            raise preflight.no_controller(err) from err
        return self.chat_model

    # -- lifetime -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the deployed experts, stop Ray if we started it, close the checkpoint database."""
        if self._closed:
            return
        self._closed = True
        try:
            self.runtime.close()
        finally:
            self._checkpointer.close()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NoController:
    """The controller of an explicit plan: there is none, and asking it anything is a bug."""

    label = "none (explicit plan, no LLM)"
    is_replay = False

    def complete(self, messages: list[ChatMessage], *, stop: list[str] | None = None) -> str:
        raise LLMError("an explicit plan runs without a controller LLM; nothing should ask it")


def _with_plan_repairs(events: Iterator[Event], repairs: list[str]) -> Iterator[Event]:
    for event in events:
        if event.type == "end":
            event.result.plan_repairs = repairs
        yield event


def _last(events: Iterator[Event]) -> Result:
    result = None
    for event in events:
        if event.type == "end":
            result = event.result
    assert result is not None, "a run always ends with a RunFinished event"
    return result
