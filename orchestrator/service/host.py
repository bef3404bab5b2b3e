"""One ingress replica's service: the orchestrator attached to the deployed experts, keys, limits, tasks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from llm.base import ChatModel, LLMError
from llm.factory import build_chat_model
from orchestrator.config import ReactorConfig, ServiceConfig
from orchestrator.errors import ConfigError
from orchestrator.sdk import Orchestrator
from orchestrator.service.keys import KeyRing
from orchestrator.service.limits import ApiError, RateLimiter
from orchestrator.service.media import VideoCaps
from orchestrator.service.metrics import ServiceMetrics
from orchestrator.service.tasks import TaskManager
from orchestrator.service.taskstore import open_task_store
from orchestrator.service.uploads import UploadLimits
from orchestrator.serving.runtime import ExpertRuntime, describe_deployments

__all__ = ["ServiceHost", "attach_orchestrator"]

log = logging.getLogger(__name__)


def attach_orchestrator(config: ReactorConfig) -> Orchestrator:
    """An orchestrator on the experts ``reactor serve`` deployed (inside the cluster: Ray is running)."""
    runtime = ExpertRuntime(config.ray)
    runtime.attach(config.enabled_experts(), app_prefix=config.ray.app_prefix)
    return Orchestrator(config, runtime)


class ServiceHost:
    """What the HTTP routes use: the orchestrator, the key ring, the rate limiter and the task manager.

    ``controller`` makes the controller LLM of a task (default: from the config; a replayed one is made
    anew for each task, a live one is shared). ``sole_replica``: this is the only ingress replica, so
    tasks left queued or running by an earlier one are recorded as failed. ``owns_orchestrator``: close
    the orchestrator with the service. ``service`` overrides the config's ``service`` section.
    """

    def __init__(
        self,
        orch: Orchestrator,
        *,
        controller: Callable[[], ChatModel] | None = None,
        replica: str | None = None,
        sole_replica: bool = False,
        owns_orchestrator: bool = True,
        service: ServiceConfig | None = None,
    ) -> None:
        config = orch.config
        self._owns_orchestrator = owns_orchestrator
        self.service = service = service or config.service
        self.orch = orch
        self.config = config
        self.keys = KeyRing(service.api_key_hashes)
        if not self.keys:
            raise ConfigError(
                "the service has no API keys: set MM_REACTOR_API_KEYS (comma-separated keys) or "
                "service.api_key_hashes in the config (`reactor key` makes one)"
            )
        self.limiter = RateLimiter(service.requests_per_minute)
        self.uploads = UploadLimits(
            max_body_bytes=service.max_upload_bytes,
            max_image_bytes=config.max_image_bytes,
            max_image_pixels=config.max_image_pixels,
            max_images=service.max_upload_images,
            video=VideoCaps.of(config),
            max_videos=service.max_upload_images,
        )
        self.metrics = ServiceMetrics()
        self.store = open_task_store(config)
        self._make_controller = controller
        self._shared: ChatModel | None = None
        self.controller_problem: str | None = None
        try:
            self.controller()
        except ApiError as err:
            self.controller_problem = err.message
            log.warning("%s", err.message)
        self.tasks = TaskManager(
            orch,
            self.store,
            self.controller,
            workers=service.worker_threads,
            max_tasks_per_key=service.max_tasks_per_key,
            metrics=self.metrics,
            replica=replica,
        )
        if sole_replica:
            gone = self.store.abandon(self.tasks.replica, "the service restarted while the task ran")
            if gone:
                log.warning("%d tasks of an earlier service process were recorded as failed", gone)
        self._experts_cache: tuple[float, list[dict[str, Any]]] = (0.0, [])

    def controller(self) -> ChatModel:
        """The controller LLM for one task; 503 when none is configured (plans still run)."""
        if self._shared is not None:
            return self._shared
        try:
            model = (
                self._make_controller() if self._make_controller else build_chat_model(self.config.controller)
            )
        except LLMError as err:
            raise ApiError(
                503,
                f"this service has no controller LLM ({err}); send a plan (it needs no LLM), or configure "
                "controller.backend (or MM_REACTOR_LLM_BASE_URL and MM_REACTOR_LLM_MODEL) and restart it",
            ) from None
        if not model.is_replay:
            self._shared = model  # a live model serves every task; a replay is one script per task
        return model

    def authenticate(self, authorization: str | None) -> str:
        """The owner id of the request's bearer key (then one request of its rate); 401 or 429 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        owner = self.keys.owner(token.strip()) if scheme.lower() == "bearer" else None
        if owner is None:
            raise ApiError(
                401,
                "a valid API key is needed: send the header 'Authorization: Bearer <key>' "
                "(`reactor serve --local` prints one and keeps it in <data_dir>/api-key)",
                {"WWW-Authenticate": "Bearer"},
            )
        self.limiter.check(owner)
        return owner

    def experts(self) -> list[dict[str, Any]]:
        """The catalogue: each deployed expert's description, argument schema and replica status."""
        stamp, rows = self._experts_cache
        if time.monotonic() - stamp > 5.0:
            try:
                rows = describe_deployments(self.config.ray.app_prefix, self.config.experts)
            except Exception as err:  # the Serve controller is busy or away: show the catalogue anyway
                log.warning("replica status unavailable: %s", err)
                rows = []
            self._experts_cache = (time.monotonic(), rows)
        status = {row["expert"]: row for row in rows}
        catalogue = self.orch.runtime.catalogue
        listing = []
        for name in self.orch.experts:
            expert = catalogue.get(name)
            if expert is None:
                continue
            row = status.get(name, {})
            listing.append(
                {
                    "name": name,
                    "description": expert.description,
                    "arguments": expert.argument_schema(),
                    "answers_tasks": expert.answers_tasks,
                    "needs_approval": name in self.config.approval_required,
                    "status": row.get("status", "UNKNOWN"),
                    "replicas": {"running": row.get("running", 0), "target": row.get("target")},
                }
            )
        return listing

    def ready(self) -> tuple[bool, str]:
        """Whether this replica can take tasks, and why not."""
        if not self.orch.experts:
            return False, "no experts are attached"
        try:
            self.store.session_owner("readyz-probe")
        except Exception as err:
            return False, f"the task database does not answer: {err}"
        return True, "ready"

    def close(self) -> None:
        """Let running tasks end, then close the task database and the orchestrator."""
        try:
            self.tasks.close()
            self.store.close()
        finally:
            if self._owns_orchestrator:
                self.orch.close()
