"""Errors the SDK raises. Each message says what went wrong and what to do."""

from __future__ import annotations

__all__ = ["ConfigError", "DeploymentError", "InputError", "ReactorError", "StorageError"]


class ReactorError(Exception):
    """Base class of every mm-reactor error."""


class InputError(ReactorError, ValueError):
    """A task input (an image, the task text, a session id) was rejected before any work."""


class ConfigError(ReactorError, ValueError):
    """The configuration file or a setting in it is invalid."""


class DeploymentError(ReactorError, RuntimeError):
    """Ray or Ray Serve could not be started or an expert could not be deployed."""


class StorageError(ReactorError, RuntimeError):
    """Session state or artifact bytes could not be read or written: a full disk, a damaged, empty or
    foreign database file, an unreachable database server.

    ``path`` is where (a file, a directory, a redacted database URL) and ``cause`` what the store
    said. Raised before any work of a run; a failure during a run ends it as a failed ``Result``
    instead, with this text as its failure. The session is never left with a rewritten past.
    """

    def __init__(self, message: str, *, path: str | None = None, cause: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.cause = cause
