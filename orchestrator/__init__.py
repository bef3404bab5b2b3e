"""mm-reactor's orchestrator: the SDK, the LangGraph loop and the Ray Serve runtime."""

from orchestrator.config import ExpertDeployment, ReactorConfig, load_config
from orchestrator.errors import ConfigError, DeploymentError, InputError, ReactorError
from orchestrator.result import ArtifactInfo, Result, Step
from orchestrator.sdk import Orchestrator

__all__ = [
    "ArtifactInfo",
    "ConfigError",
    "DeploymentError",
    "ExpertDeployment",
    "InputError",
    "Orchestrator",
    "ReactorConfig",
    "ReactorError",
    "Result",
    "Step",
    "load_config",
]
