"""mm-reactor's orchestrator: the SDK face (this package's top level) and its wings.

The public surface is what ``__all__`` lists; everything in the wings (``agent``, ``serving``,
``storage``, ``cli``, ``service``) is internal. See ARCHITECTURE.md for the map.
"""

from orchestrator.config import ExpertDeployment, ReactorConfig, load_config
from orchestrator.errors import ConfigError, DeploymentError, InputError, ReactorError, StorageError
from orchestrator.events import Event
from orchestrator.result import ArtifactInfo, Result, Step
from orchestrator.sdk import Orchestrator
from orchestrator.session import Session

__all__ = [
    "ArtifactInfo",
    "ConfigError",
    "DeploymentError",
    "Event",
    "ExpertDeployment",
    "InputError",
    "Orchestrator",
    "ReactorConfig",
    "ReactorError",
    "Result",
    "Session",
    "Step",
    "StorageError",
    "load_config",
]
