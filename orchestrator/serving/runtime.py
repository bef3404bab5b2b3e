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
from orchestrator.config import ExpertDeployment, RayConfig
from orchestrator.errors import ConfigError, DeploymentError
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue

__all__ = ["ExpertRuntime", "describe_deployments"]

log = logging.getLogger(__name__)


class ExpertRuntime:
    """The Ray side of an orchestrator: its connection and the expert apps it deployed."""

    def __init__(self, config: RayConfig) -> None:
        self.config = config
        self.catalogue = ExpertCatalogue()
        self._started_ray = False
        self._owned: set[str] = set()
        self._embedded = False

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
                # "local" always starts a private instance: a bare ray.init() would join any cluster
                # it finds on this machine (another user's, a test's), which is never what we want.
                kwargs |= {"address": "local", "include_dashboard": False, "num_cpus": self.config.num_cpus}
                self._embedded = True
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
            pending.append((name, expert_cls, app_name, entry))
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
        for (name, expert_cls, app_name, entry), handle in zip(pending, handles, strict=True):
            item = DeployedExpert(name, expert_cls, handle, app_name, entry.timeout_s, entry.options)
            self.catalogue.add(item)
            self._owned.add(name)
            deployed.append(item)
        return deployed

    def attach(self, experts: dict[str, ExpertDeployment], *, app_prefix: str) -> list[DeployedExpert]:
        """Use experts already running on the cluster (deployed by ``reactor serve``); deploy nothing."""
        running = serve.status().applications
        missing = [name for name in experts if f"{app_prefix}{name}" not in running]
        if missing:
            raise DeploymentError(
                f"these experts are not deployed on the cluster: {', '.join(missing)}; "
                "deploy them with `reactor serve --config <file>` or use deploy=True"
            )
        attached = []
        for name, entry in experts.items():
            try:
                expert_cls = load_expert_class(name, entry.expert_class)
            except ExpertNotFound as err:
                raise ConfigError(str(err)) from err
            app_name = f"{app_prefix}{name}"
            handle = serve.get_app_handle(app_name)
            item = DeployedExpert(name, expert_cls, handle, app_name, entry.timeout_s, entry.options)
            self.catalogue.add(item)
            attached.append(item)
        return attached

    def undeploy(self, name: str, *, wait: bool = True) -> None:
        """Delete one expert's application (only forget it if another process deployed it)."""
        item = self.catalogue.remove(name)
        if item is not None and name in self._owned:
            self._owned.discard(name)
            serve.delete(item.app_name, _blocking=wait)

    def close(self) -> None:
        """Delete the apps this runtime deployed (not attached ones); stop Ray if this runtime started it."""
        if not ray.is_initialized():
            return
        if self._embedded:  # our own Ray: shutting it down removes everything at once
            serve.shutdown()
            ray.shutdown()
            self._started_ray = self._embedded = False
            return
        for name in self.catalogue.names():
            try:
                self.undeploy(name, wait=False)
            except Exception as err:  # best effort while tearing down
                log.warning("could not delete expert app %s: %s", name, err)
        if self._started_ray:  # we joined a cluster: disconnect, leave the cluster running
            ray.shutdown()
            self._started_ray = False

    def disconnect(self) -> None:
        """Leave the cluster and everything deployed on it running (``reactor serve``)."""
        self.catalogue = ExpertCatalogue()
        self._owned.clear()
        if self._started_ray and not self._embedded:
            ray.shutdown()
            self._started_ray = False


def describe_deployments(app_prefix: str) -> list[dict[str, Any]]:
    """The experts deployed on the connected cluster: status, replicas, resources and nodes."""
    from ray.serve.context import _get_global_client

    client = _get_global_client()
    if client is None:
        raise DeploymentError("Ray Serve is not running on this cluster; deploy with `reactor serve` first")
    details = client.get_serve_details()
    rows = []
    for app_name, app in sorted(details.get("applications", {}).items()):
        if not app_name.startswith(app_prefix):
            continue
        for name, deployment in app["deployments"].items():
            config = deployment.get("deployment_config", {})
            actor = config.get("ray_actor_options") or {}
            replicas = deployment.get("replicas", [])
            rows.append(
                {
                    "expert": name,
                    "app": app_name,
                    "status": str(deployment.get("status", "")).rsplit(".", 1)[-1],
                    "running": sum(1 for r in replicas if str(r.get("state", "")).endswith("RUNNING")),
                    "target": deployment.get("target_num_replicas"),
                    "num_cpus": actor.get("num_cpus", 1),
                    "num_gpus": actor.get("num_gpus", 0),
                    "resources": actor.get("resources") or {},
                    "max_ongoing_requests": config.get("max_ongoing_requests"),
                    "nodes": sorted({r.get("node_id", "")[:8] for r in replicas}),
                }
            )
    return rows
