"""Errors the SDK raises. Each message says what went wrong and what to do."""

from __future__ import annotations

__all__ = ["ConfigError", "DeploymentError", "InputError", "ReactorError"]


class ReactorError(Exception):
    """Base class of every mm-reactor error."""


class InputError(ReactorError, ValueError):
    """A task input (an image, the task text, a session id) was rejected before any work."""


class ConfigError(ReactorError, ValueError):
    """The configuration file or a setting in it is invalid."""


class DeploymentError(ReactorError, RuntimeError):
    """Ray or Ray Serve could not be started or an expert could not be deployed."""
