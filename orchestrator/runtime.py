"""Start or join Ray, start Serve, deploy configured experts, and tear down what we started."""

from __future__ import annotations

import logging
import os
from typing import Any

import ray
from ray import serve

from experts.base import Expert
from experts.deployment import build_expert_app
from experts.registry import ExpertNotFound, load_expert_class
from orchestrator.catalogue import DeployedExpert, ExpertCatalogue
from orchestrator.config import ExpertDeployment, RayConfig
from orchestrator.errors import ConfigError, DeploymentError

__all__ = ["ExpertRuntime"]

log = logging.getLogger(__name__)


class ExpertRuntime:
    """The Ray side of an orchestrator: its connection and the expert apps it deployed."""

    def __init__(self, config: RayConfig) -> None:
        self.config = config
        self.catalogue = ExpertCatalogue()
        self._started_ray = False

    @property
    def address(self) -> str | None:
        return self.config.address or os.environ.get("RAY_ADDRESS") or None

    def start(self) -> None:
        """Join the configured cluster (or the one already initialised); else start an embedded one."""
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "namespace": self.config.namespace,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
            }
            address = self.address
            if address:
                kwargs["address"] = address
            else:
                kwargs |= {"include_dashboard": False, "num_cpus": self.config.num_cpus}
            try:
                ray.init(**kwargs)
            except Exception as err:
                where = f"the Ray cluster at {address}" if address else "an embedded Ray instance"
                raise DeploymentError(f"could not start or join {where}: {err}") from err
            self._started_ray = True
        try:
            serve.start(http_options={"location": "NoServer"}, logging_config={"log_level": "WARNING"})
        except Exception as err:
            raise DeploymentError(f"could not start Ray Serve: {err}") from err

    def deploy(
        self,
        experts: dict[str, ExpertDeployment],
        *,
        app_prefix: str,
        classes: dict[str, type[Expert]] | None = None,
    ) -> list[DeployedExpert]:
        """Deploy each expert as its own Serve application, all at once; wait until they run.

        ``classes`` gives expert classes directly (``Orchestrator.add_expert``); the others are
        found by name or by the entry's ``class`` path.
        """
        targets, pending = [], []
        for name, entry in experts.items():
            try:
                expert_cls = (classes or {}).get(name) or load_expert_class(name, entry.expert_class)
                app = build_expert_app(
                    expert_cls,
                    deployment_name=name,
                    settings=entry.options,
                    num_replicas=entry.num_replicas,
                    autoscaling_config=entry.autoscaling_config,
                    ray_actor_options=entry.ray_actor_options,
                    max_ongoing_requests=entry.max_ongoing_requests,
                    batching=entry.batching.model_dump() if entry.batching else None,
                )
            except (ExpertNotFound, ValueError) as err:
                raise ConfigError(str(err)) from err
            app_name = f"{app_prefix}{name}"
            targets.append(serve.RunTarget(target=app, name=app_name, route_prefix=None))
            pending.append((name, expert_cls, app_name, entry.timeout_s))
        if not targets:
            return []
        try:
            handles = serve.run_many(targets)
        except Exception as err:
            names = ", ".join(name for name, *_ in pending)
            raise DeploymentError(
                f"deploying experts ({names}) failed: {err}\n"
                "Check the replicas' logs under the Ray session directory (logs/serve/); a setup() that "
                "cannot find model weights names the model id to provide."
            ) from err
        deployed = []
        for (name, expert_cls, app_name, timeout_s), handle in zip(pending, handles, strict=True):
            item = DeployedExpert(name, expert_cls, handle, app_name, timeout_s)
            self.catalogue.add(item)
            deployed.append(item)
        return deployed

    def undeploy(self, name: str, *, wait: bool = True) -> None:
        """Delete one expert's application."""
        item = self.catalogue.remove(name)
        if item is not None:
            serve.delete(item.app_name, _blocking=wait)

    def close(self) -> None:
        """Delete the apps this runtime deployed; stop Ray if this runtime started it."""
        if not ray.is_initialized():
            return
        if self._started_ray:  # shutting Ray down removes everything at once
            serve.shutdown()
            ray.shutdown()
            self._started_ray = False
            return
        for name in self.catalogue.names():
            try:
                self.undeploy(name, wait=False)
            except Exception as err:  # best effort while tearing down
                log.warning("could not delete expert app %s: %s", name, err)
