"""mm-reactor's orchestrator: the SDK face (this package's top level) and its wings.

The public surface is what ``__all__`` lists; everything in the wings (``agent``, ``serving``,
``storage``, ``cli``, ``service``) is internal. See ARCHITECTURE.md for the map.

``Orchestrator`` (Ray, LangGraph) and ``Client`` (HTTP only) are imported on first use, so a
program that only talks to a running service never imports Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.config import ExpertDeployment, ReactorConfig, load_config
from orchestrator.errors import ConfigError, DeploymentError, InputError, ReactorError, StorageError
from orchestrator.events import Event
from orchestrator.result import ArtifactInfo, Result, Step
from orchestrator.session import Session

if TYPE_CHECKING:
    from orchestrator.sdk import Orchestrator
    from orchestrator.service.client import Client

__all__ = [
    "ArtifactInfo",
    "Client",
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

_LAZY = {"Orchestrator": "orchestrator.sdk", "Client": "orchestrator.service.client"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
