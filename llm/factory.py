"""Build the configured controller chat model."""

from __future__ import annotations

from collections.abc import Sequence

from llm.base import ChatModel, LLMError
from llm.config import ENV_BASE_URL, ControllerConfig
from llm.scripted import ScriptedChatModel, ScriptEntry

__all__ = ["build_chat_model"]


def build_chat_model(config: ControllerConfig, *, script: Sequence[ScriptEntry] | None = None) -> ChatModel:
    """Return the :class:`ChatModel` for ``config.backend``.

    ``"scripted"`` replays ``script`` (required); ``"openai"`` builds an
    :class:`~llm.openai_compat.OpenAICompatibleChatModel`; ``"transformers"`` a lazily loaded
    :class:`~llm.transformers_local.TransformersChatModel`.
    """
    if config.backend == "scripted":
        if script is None:
            raise LLMError(
                "controller backend is 'scripted' but no script was given: configure a real backend "
                f"(controller.backend: openai with controller.base_url / ${ENV_BASE_URL}, or transformers "
                "with controller.model) or pass script=[...] of replies"
            )
        return ScriptedChatModel(script)
    if config.backend == "openai":
        from llm.openai_compat import OpenAICompatibleChatModel

        return OpenAICompatibleChatModel(config)
    if config.backend == "transformers":
        from llm.transformers_local import TransformersChatModel

        return TransformersChatModel(config)
    raise LLMError(  # pragma: no cover -- pydantic rejects other values
        f"unknown controller backend {config.backend!r}: use scripted, openai or transformers"
    )
