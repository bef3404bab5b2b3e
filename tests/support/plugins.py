"""Deliberately broken extensions, for the tests of the checks every extension point makes."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver


def saver_without_close(config: Any) -> InMemorySaver:
    """A checkpointer factory that forgets to return its close function."""
    return InMemorySaver()


class NotAStore:
    """An artifact store that does not subclass ByteStore."""

    def __init__(self, **options: Any) -> None:
        self.options = options


class NotAChatModel:
    """A controller backend without ``complete``."""

    def __init__(self, config: Any) -> None:
        self.config = config


def backend_needing_torch(config: Any) -> Any:
    """A controller backend whose heavy dependency is missing here."""
    raise ModuleNotFoundError("No module named 'torch'", name="torch")
