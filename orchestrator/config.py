"""Typed configuration: one YAML file lists the controller, limits and the experts to deploy.

Config flows one way: this file (placement, replicas, overrides of model ids and thresholds) →
typed :class:`ExpertDeployment` entries → Serve deployments. Defaults are written once: a model
id or threshold in its expert's ``Settings``, a deployment default in
:mod:`experts.deployment_defaults`; the file states only what differs.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

import redaction
from experts import deployment_defaults as defaults
from extensions import ArtifactStoreSetting, CheckpointerSetting
from llm.config import ControllerConfig
from orchestrator.errors import ConfigError

__all__ = [
    "BatchingConfig",
    "ExpertDeployment",
    "RayConfig",
    "ReactorConfig",
    "ServiceConfig",
    "default_data_dir",
    "load_config",
]


class BatchingConfig(BaseModel):
    """Dynamic batching (``@serve.batch``) of concurrent calls to one replica."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(default=defaults.MAX_BATCH_SIZE, ge=1, le=1024)
    batch_wait_timeout_s: float = Field(default=defaults.BATCH_WAIT_TIMEOUT_S, ge=0, le=10)


class ExpertDeployment(BaseModel):
    """How one expert is deployed: Serve settings plus the expert's own ``options``.

    Unset keys take :mod:`experts.deployment_defaults`; ``options`` unset take the expert's Settings.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    expert_class: str | None = Field(
        default=None,
        alias="class",
        description="'package.module:ClassName' for an expert that is not built in",
    )
    num_replicas: int | None = Field(default=defaults.NUM_REPLICAS, ge=1)
    autoscaling_config: dict[str, Any] | None = None
    ray_actor_options: dict[str, Any] = Field(default_factory=defaults.ray_actor_options)
    max_ongoing_requests: int = Field(default=defaults.MAX_ONGOING_REQUESTS, ge=1)
    timeout_s: float = Field(default=defaults.TIMEOUT_S, gt=0)
    batching: BatchingConfig | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _replicas_or_autoscaling(self) -> ExpertDeployment:
        if self.autoscaling_config is not None:
            self.num_replicas = None
        if self.batching is not None and self.batching.max_batch_size > self.max_ongoing_requests:
            raise ValueError(
                f"batching.max_batch_size ({self.batching.max_batch_size}) exceeds max_ongoing_requests "
                f"({self.max_ongoing_requests}); a replica never holds enough requests to fill a batch"
            )
        return self


class RayConfig(BaseModel):
    """Where Ray runs: ``address`` (or ``RAY_ADDRESS``) joins a cluster; else an embedded one starts.

    The embedded Ray listens on 127.0.0.1 only; a joined cluster keeps its own network and auth settings.
    """

    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    num_cpus: int | None = None
    namespace: str = "mm-reactor"
    app_prefix: str = "mmr-"
    deploy_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="how long deploying experts may take (every replica's setup(), loading weights "
        "included) before it fails with what is still missing",
    )
    cluster_autoscaler: bool = Field(
        default=False,
        description="the joined cluster adds nodes on demand (KubeRay, `ray up`): an expert asking for "
        "more than its nodes hold waits for new nodes (up to deploy_timeout_s) instead of failing at once",
    )


class ServiceConfig(BaseModel):
    """The HTTP service (``reactor serve``): where it listens, its ingress replicas, its keys and limits."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="the address Serve's HTTP proxy binds (loopback)")
    port: int = Field(default=8000, ge=1, le=65535)
    num_replicas: int | None = Field(default=1, ge=1, description="ingress replicas; >1 needs postgres")
    autoscaling_config: dict[str, Any] | None = None
    max_ongoing_requests: int = Field(default=1024, ge=1, description="per replica; an event stream is one")
    ray_actor_options: dict[str, Any] = Field(default_factory=lambda: {"num_cpus": 0.25})
    worker_threads: int = Field(default=32, ge=1, le=1024, description="tasks one replica runs at once")
    api_key_hashes: list[str] = Field(
        default_factory=list,
        description="'sha256:<hex>' of each accepted API key (`reactor key`); MM_REACTOR_API_KEYS adds keys",
    )
    max_tasks_per_key: int = Field(default=8, ge=1, description="queued or running tasks per API key")
    requests_per_minute: int = Field(default=600, ge=1, description="requests per API key per replica")
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1, description="one request's whole body")
    max_upload_images: int = Field(default=16, ge=1)
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed by CORS (off)")

    @model_validator(mode="after")
    def _replicas_or_autoscaling(self) -> ServiceConfig:
        if self.autoscaling_config is not None:
            self.num_replicas = None
        return self


class ReactorConfig(BaseModel):
    """The whole configuration of an orchestrator."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(default_factory=lambda: default_data_dir())
    checkpointer: CheckpointerSetting = Field(
        default="sqlite",
        description="sqlite, memory, postgres, a registered plugin, or {class: 'pkg.mod:open', options: …}",
    )
    postgres_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:port/db for checkpointer: postgres (or "
        "MM_REACTOR_POSTGRES_URL); a SecretStr, its password redacted from every stored text",
    )
    artifact_store: ArtifactStoreSetting | None = Field(
        default=None,
        description="where artifact bytes live: a directory or an fsspec URL shared by all orchestrators "
        "(default: <data_dir>/artifacts), or {name|class: …, options: …} for another store",
    )
    context_budget_tokens: int = Field(
        default=6000,
        ge=500,
        description="transcript size (approx. tokens) above which older turns are compacted",
    )
    max_steps: int = Field(default=8, ge=1, le=200)
    max_parse_retries: int = Field(default=2, ge=0, le=20)
    max_replans: int = Field(default=2, ge=0, le=20, description="re-plans after a plan step fails")
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    max_image_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_video_seconds: float = Field(default=600, gt=0, description="longer input videos are refused")
    max_video_frames: int = Field(
        default=36_000, ge=1, description="input videos with more frames are refused"
    )
    max_video_pixels: int = Field(default=3840 * 2160, ge=1, description="largest frame of an input video")
    max_video_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="largest input video file")
    approval_required: list[str] = Field(
        default_factory=list,
        description="experts whose calls wait for a person's approval (e.g. [inpaint, controlnet, gligen])",
    )
    deadline_s: float | None = Field(default=None, gt=0, description="default per-task deadline in seconds")
    direct_mllm: bool = Field(
        default=True,
        description="when an 'mllm' expert is deployed, let the controller send plain perception "
        "questions to it whole (the end-to-end route) instead of planning over tools",
    )
    controller: ControllerConfig = Field(default_factory=ControllerConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    experts: dict[str, ExpertDeployment] = Field(default_factory=dict)

    def enabled_experts(self) -> dict[str, ExpertDeployment]:
        """The experts to deploy, by name."""
        return {name: entry for name, entry in self.experts.items() if entry.enabled}


def default_data_dir() -> Path:
    """``MM_REACTOR_DATA`` if set, else ``~/.mm-reactor``."""
    return Path(os.environ.get("MM_REACTOR_DATA", Path.home() / ".mm-reactor")).expanduser()


def _remember_secrets(config: ReactorConfig) -> None:
    if config.postgres_url is not None:
        try:
            password = urlsplit(config.postgres_url.get_secret_value()).password
        except ValueError:
            password = None
        redaction.remember(password)


def _default_mapping() -> dict[str, Any]:
    text = resources.files("orchestrator").joinpath("default_config.yaml").read_text()
    return yaml.safe_load(text)


def load_config(config: ReactorConfig | str | Path | dict[str, Any] | None = None) -> ReactorConfig:
    """Load the configuration: the packaged default, a YAML path, a mapping or a config object.

    Environment overrides for the controller (``MM_REACTOR_LLM_BASE_URL`` …) are applied last.
    """
    if isinstance(config, ReactorConfig):
        cfg = config
    else:
        if config is None:
            data: Any = _default_mapping()
            source = "the packaged default config"
        elif isinstance(config, dict):
            data, source = config, "the config mapping"
        else:
            path = Path(config).expanduser()
            if not path.is_file():
                raise ConfigError(f"config file {path} does not exist; pass the path of a YAML config file")
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError as err:
                raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
            source = str(path)
        if not isinstance(data, dict):
            raise ConfigError(f"{source} must be a YAML mapping of settings")
        try:
            cfg = ReactorConfig.model_validate(data)
        except ValidationError as err:
            raise ConfigError(f"invalid settings in {source}:\n{err}") from err
    controller = ControllerConfig.from_env(cfg.controller)
    _remember_secrets(cfg)
    return cfg.model_copy(update={"controller": controller})
