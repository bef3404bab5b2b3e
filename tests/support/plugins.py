"""Extensions for the tests: small working ones, and deliberately broken ones for the checks."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from orchestrator.storage.blobs import ByteStore


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


class EchoChatModel:
    """A working controller backend: always answers with its ``greeting`` option."""

    is_replay = False

    def __init__(self, config: Any, *, greeting: str = "hello") -> None:
        self.config = config
        self.greeting = greeting
        self.label = f"echo ({greeting})"

    def complete(self, messages: list[Any], *, stop: list[str] | None = None) -> str:
        return f"Thought: nothing to do\nFinal Answer: {self.greeting}"


class DictStore(ByteStore):
    """A working artifact store: bytes in a dict of this process."""

    def __init__(self, *, name: str = "default") -> None:
        self.url = f"dict://{name}"
        self.blobs: dict[str, bytes] = {}

    def write(self, key: str, data: bytes) -> None:
        self.blobs.setdefault(key, data)

    def read(self, key: str) -> bytes:
        if key not in self.blobs:
            raise FileNotFoundError(key)
        return self.blobs[key]
