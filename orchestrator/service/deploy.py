"""``reactor serve``: the experts and the ingress application (FastAPI on Ray Serve) that runs the agent.

Each ingress replica builds its own orchestrator attached to the deployed experts and runs tasks in
its worker threads. More than one replica needs every replica to see every session (the PostgreSQL
checkpointer) and every artifact (a shared artifact store); that is checked before anything starts.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from ray import serve
from ray.serve import Application

from extensions import ExtensionRef
from orchestrator.config import ReactorConfig, load_config
from orchestrator.errors import ConfigError, DeploymentError
from orchestrator.service.app import create_app
from orchestrator.service.host import ServiceHost, attach_orchestrator
from orchestrator.serving.runtime import ExpertRuntime

__all__ = [
    "INGRESS",
    "Ingress",
    "check_port",
    "check_replicas",
    "deploy_service",
    "ingress_app",
    "service_url",
]

log = logging.getLogger(__name__)
INGRESS = "service-ingress"
"""The ingress's Serve application is named ``<app_prefix>service-ingress``."""


@serve.deployment(name="ingress")
@serve.ingress()
class Ingress:
    """One ingress replica: a :class:`ServiceHost` (orchestrator, keys, tasks) behind the FastAPI app."""

    def __init__(self, config: dict[str, Any]) -> None:
        cfg = load_config(config)
        replica = serve.get_replica_context().replica_id.unique_id
        self.host = ServiceHost(
            attach_orchestrator(cfg), replica=replica, sole_replica=_max_replicas(cfg) == 1
        )

    def __serve_build_asgi_app__(self) -> Any:
        return create_app(self.host)

    def check_health(self) -> None:
        ready, why = self.host.ready()
        if not ready:
            raise RuntimeError(why)

    def __del__(self) -> None:
        host = getattr(self, "host", None)
        if host is not None:
            host.close()


def _max_replicas(config: ReactorConfig) -> int:
    service = config.service
    if service.autoscaling_config:
        return int(
            service.autoscaling_config.get("max_replicas", service.autoscaling_config.get("min_replicas", 1))
        )
    return service.num_replicas or 1


def check_replicas(config: ReactorConfig, *, local: bool) -> None:
    """ConfigError when several ingress replicas could not share sessions and artifacts."""
    replicas = _max_replicas(config)
    if replicas <= 1:
        return
    setting = config.checkpointer
    name = setting.label if isinstance(setting, ExtensionRef) else setting
    if name in ("sqlite", "memory"):
        raise ConfigError(
            f"the service is configured with up to {replicas} ingress replicas, but sessions are kept by "
            f"the '{name}' checkpointer, which one process owns. Set checkpointer: postgres (with "
            "postgres_url or MM_REACTOR_POSTGRES_URL) so every replica sees every session and task, or set "
            "service.num_replicas: 1"
        )
    if config.artifact_store is None and not local:
        raise ConfigError(
            f"the service is configured with up to {replicas} ingress replicas on a cluster, but artifacts "
            f"are kept in {config.data_dir / 'artifacts'} on each node. Set artifact_store to storage every "
            "node shares (s3://bucket/prefix, or a directory every node mounts), or set "
            "service.num_replicas: 1"
        )


def check_port(host: str, port: int) -> None:
    """ConfigError when ``host:port`` cannot be bound here (in use, or not this machine's address)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({err.strerror}); pass another --port, or stop what uses it"
            ) from None


def ingress_app(config: ReactorConfig) -> Application:
    """The ingress application with the replicas, autoscaling and resources of ``config.service``."""
    service = config.service
    options: dict[str, Any] = {
        "max_ongoing_requests": service.max_ongoing_requests,
        "ray_actor_options": service.ray_actor_options,
        "graceful_shutdown_timeout_s": 30,
    }
    if service.autoscaling_config:
        options["autoscaling_config"] = service.autoscaling_config
    else:
        options["num_replicas"] = service.num_replicas
    deployment: Any = Ingress  # a Serve Deployment (the decorators hide its type)
    return deployment.options(**options).bind(config.model_dump(mode="json", by_alias=True))


def service_url(config: ReactorConfig) -> str:
    host = config.service.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{config.service.port}"


def deploy_service(
    config: ReactorConfig, *, local: bool, on_ready: Callable[[str, float], None] | None = None
) -> ExpertRuntime:
    """Start (``local``: an embedded Ray) or join Ray, start Serve's HTTP proxy, deploy experts and ingress.

    ``on_ready(expert, seconds)`` is called as each expert starts running (the start-up's progress).

    ``config.service.api_key_hashes`` must already hold every accepted key. Returns the runtime (close it
    to stop an embedded Ray; ``disconnect()`` leaves a cluster's deployments running).
    """
    check_replicas(config, local=local)
    if not config.service.api_key_hashes:
        raise ConfigError("no API keys: set MM_REACTOR_API_KEYS or service.api_key_hashes (`reactor key`)")
    if local:
        check_port(config.service.host, config.service.port)
    runtime = ExpertRuntime(config.ray)
    runtime.preflight(config.enabled_experts())
    runtime.start(http_options={"host": config.service.host, "port": config.service.port})
    try:
        runtime.deploy(config.enabled_experts(), app_prefix=config.ray.app_prefix, on_ready=on_ready)
        try:
            serve.run(ingress_app(config), name=f"{config.ray.app_prefix}{INGRESS}", route_prefix="/")
        except Exception as err:
            raise DeploymentError(
                f"the service's ingress did not start: {err}\nIts replica's log is under the Ray session "
                "directory (logs/serve/)."
            ) from err
    except BaseException:
        runtime.close()
        raise
    return runtime
