"""Start or join Ray, start Serve, deploy configured experts, and tear down what we started.

An embedded Ray listens on 127.0.0.1 only and its workers never see the orchestrator's secrets
(:mod:`orchestrator.serving.embedded`); a joined cluster is used as it is, its auth mode included.
Deploying checks the resources first (:mod:`orchestrator.serving.resources`) and is bounded by
``ray.deploy_timeout_s`` (:mod:`orchestrator.serving.rollout`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import ray
from ray import serve

from experts.base import Expert
from experts.deployment import build_expert_app
from experts.registry import ExpertNotFound, load_expert_class
from extensions import install_line, missing_modules
from orchestrator.config import ExpertDeployment, RayConfig
from orchestrator.errors import ConfigError, DeploymentError
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue
from orchestrator.serving.embedded import init_embedded
from orchestrator.serving.resources import check_resources
from orchestrator.serving.rollout import AppToDeploy, roll_out

__all__ = ["ExpertRuntime", "describe_deployments", "expert_classes"]

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

    def preflight(self, experts: dict[str, ExpertDeployment]) -> None:
        """Before Ray starts: find every expert's class and check that the extras they need are here."""
        self._check_extras(expert_classes(experts))

    def _check_extras(self, classes: dict[str, type[Expert]]) -> None:
        """ConfigError naming the ``pip install`` line when an expert's extra is missing, wherever the
        replicas run on this machine (no cluster address: the cluster's nodes have their own packages)."""
        if self.address:
            return
        problems = []
        for name, expert_cls in classes.items():
            missing = missing_modules(expert_cls.extra) if expert_cls.extra else []
            if missing:
                problems.append(
                    f"- {name} needs the [{expert_cls.extra}] extra (missing here: {', '.join(missing)}): "
                    f"{install_line(expert_cls.extra or '')}"
                )
        if problems:
            raise ConfigError(
                "these experts need packages that are not installed:\n"
                + "\n".join(problems)
                + "\nInstall them, or disable those experts in the config (enabled: false)."
            )

    def start(self, http_options: dict[str, Any] | None = None) -> None:
        """Join the configured cluster (or the one already initialised); else start an embedded one.

        Ray's auth mode is never changed here: a joined cluster keeps its own, and an embedded one
        takes Ray's default (or ``RAY_AUTH_MODE`` when the caller set it). ``http_options``: Serve's
        HTTP proxy (``reactor serve``); by default Serve runs without one.
        """
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "namespace": self.config.namespace,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
            }
            address = self.address
            try:
                if address:
                    ray.init(address=address, **kwargs)
                else:
                    # "local" always starts a private instance: a bare ray.init() would join any cluster
                    # it finds on this machine (another user's, a test's), which is never what we want.
                    init_embedded(include_dashboard=False, num_cpus=self.config.num_cpus, **kwargs)
                    self._embedded = True
            except Exception as err:
                where = f"the Ray cluster at {address}" if address else "an embedded Ray instance"
                raise DeploymentError(f"could not start or join {where}: {err}") from err
            self._started_ray = True
        try:
            serve.start(
                http_options=http_options or {"location": "NoServer"}, logging_config={"log_level": "WARNING"}
            )
        except Exception as err:
            raise DeploymentError(f"could not start Ray Serve: {err}") from err

    def deploy(
        self,
        experts: dict[str, ExpertDeployment],
        *,
        app_prefix: str,
        classes: dict[str, type[Expert]] | None = None,
        on_ready: Callable[[str, float], None] | None = None,
    ) -> list[DeployedExpert]:
        """Deploy each expert as its own Serve application, all at once; wait until they run.

        ``classes`` gives expert classes directly (``Orchestrator.add_expert``); the others are
        found by name or by the entry's ``class`` path. ``on_ready(expert, seconds)`` is called as
        each expert starts running (the CLI prints it; nothing is printed without it).
        """
        given = classes or {}
        found = {name: given.get(name) or load_class(name, entry) for name, entry in experts.items()}
        self._check_extras(found)
        apps: list[AppToDeploy] = []
        pending = []
        for name, entry in experts.items():
            expert_cls = found[name]
            try:
                app = build_expert_app(
                    expert_cls,
                    deployment_name=name,
                    settings=entry.options,
                    num_replicas=entry.num_replicas,
                    autoscaling_config=entry.autoscaling_config,
                    ray_actor_options=entry.ray_actor_options,
                    max_ongoing_requests=entry.max_ongoing_requests,
                    batching=entry.batching.model_dump() if entry.batching else None,
                    timeout_s=entry.timeout_s,
                )
            except ValueError as err:
                raise ConfigError(str(err)) from err
            app_name = f"{app_prefix}{name}"
            apps.append(AppToDeploy(name, app_name, app))
            pending.append((name, expert_cls, app_name, entry))
        if not apps:
            return []
        waiting = check_resources(experts, autoscaler=self.config.cluster_autoscaler and not self._embedded)
        try:
            handles = roll_out(
                apps, timeout_s=self.config.deploy_timeout_s, waiting=waiting, on_ready=on_ready
            )
        except DeploymentError:
            raise
        except Exception as err:  # Serve itself failed (controller gone, cluster unreachable)
            names = ", ".join(name for name, *_ in pending)
            raise DeploymentError(f"deploying experts ({names}) failed: {type(err).__name__}: {err}") from err
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
        for name, expert_cls in expert_classes(experts).items():
            entry = experts[name]
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


def expert_classes(experts: dict[str, ExpertDeployment]) -> dict[str, type[Expert]]:
    """The expert class of each entry (by its ``class`` path or its name); ConfigError when one is missing."""
    return {name: load_class(name, entry) for name, entry in experts.items()}


def load_class(name: str, entry: ExpertDeployment) -> type[Expert]:
    """The expert class of one entry; ConfigError when it cannot be found."""
    try:
        return load_expert_class(name, entry.expert_class)
    except ExpertNotFound as err:
        raise ConfigError(str(err)) from err


def describe_deployments(
    app_prefix: str, experts: dict[str, ExpertDeployment] | None = None
) -> list[dict[str, Any]]:
    """The experts deployed on the connected cluster: status and replicas (``serve.status()``), their
    configured resources (from ``experts``, the config they were deployed with) and nodes (where
    Ray's state API answers, i.e. the cluster runs a dashboard)."""
    nodes = _replica_nodes()
    rows = []
    for app_name, app in sorted(serve.status().applications.items()):
        if not app_name.startswith(app_prefix):
            continue
        for name, deployment in app.deployments.items():
            entry = (experts or {}).get(name)
            actor = entry.ray_actor_options if entry else {}
            states = {str(getattr(k, "value", k)): n for k, n in deployment.replica_states.items()}
            rows.append(
                {
                    "expert": name,
                    "app": app_name,
                    "status": str(getattr(deployment.status, "value", deployment.status)),
                    "running": states.get("RUNNING", 0),
                    "target": _target_replicas(entry) or sum(states.values()),
                    "num_cpus": actor.get("num_cpus", "?") if entry else "?",
                    "num_gpus": actor.get("num_gpus", 0) if entry else "?",
                    "resources": actor.get("resources") or {},
                    "max_ongoing_requests": entry.max_ongoing_requests if entry else None,
                    "nodes": nodes.get((app_name, name), []),
                }
            )
    return rows


def _target_replicas(entry: ExpertDeployment | None) -> int | str | None:
    if entry is None:
        return None
    if entry.autoscaling_config:
        low = entry.autoscaling_config.get("min_replicas", 1)
        high = entry.autoscaling_config.get("max_replicas", low)
        return f"{low}-{high}"
    return entry.num_replicas


def _replica_nodes() -> dict[tuple[str, str], list[str]]:
    """(app, deployment) -> the short ids of the nodes running its replicas; empty without a dashboard."""
    try:
        from ray.util.state import list_actors

        actors = list_actors(
            address=ray.get_runtime_context().gcs_address,
            filters=[("state", "=", "ALIVE")],
            limit=10_000,
            timeout=5,
            raise_on_missing_output=False,
        )
    except Exception as err:  # no dashboard (embedded Ray), or an older cluster: nodes stay unknown
        log.info("replica nodes unavailable: %s", err)
        return {}
    nodes: dict[tuple[str, str], set[str]] = {}
    for actor in actors:
        parts = (actor.name or "").removeprefix("SERVE_REPLICA::").split("#")
        if (actor.name or "").startswith("SERVE_REPLICA::") and len(parts) == 3:
            nodes.setdefault((parts[0], parts[1]), set()).add((actor.node_id or "")[:8])
    return {key: sorted(ids) for key, ids in nodes.items()}
