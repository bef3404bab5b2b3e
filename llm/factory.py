"""Build the configured controller chat model: a registered backend, or one given by class path.

A backend is a callable ``factory(config: ControllerConfig, **options) -> ChatModel`` (a class whose
``__init__`` takes the config qualifies); it is named in ``controller.backend`` by its registered
name (entry point group ``mm_reactor.llm_backends``) or as ``{class: package.module:Name}``.
"""

from __future__ import annotations

from collections.abc import Sequence

from extensions import LLM_BACKENDS, ExtensionNotFound, extra_providing, install_line, resolve
from extensions.lookup import check_options
from llm.base import ChatModel, LLMError
from llm.config import ENV_BASE_URL, ControllerConfig
from llm.scripted import ScriptedChatModel, ScriptEntry

__all__ = ["build_chat_model", "scripted_backend"]


def build_chat_model(config: ControllerConfig, *, script: Sequence[ScriptEntry] | None = None) -> ChatModel:
    """Return the :class:`ChatModel` for ``config.backend``.

    ``"scripted"`` replays ``script`` (or ``options: {replies: [...]}``); ``"openai"`` builds an
    :class:`~llm.openai_compat.OpenAICompatibleChatModel`; ``"transformers"`` a lazily loaded
    :class:`~llm.transformers_local.TransformersChatModel`; any other name or class path is
    looked up and called with the config and its ``options``.
    """
    name = config.backend_name
    if name == "scripted" and script is not None:
        return ScriptedChatModel(script)
    try:
        factory, options = resolve(LLM_BACKENDS, config.backend)
        check_options(factory, (config,), options, what=f"controller backend {name!r}")
    except (ExtensionNotFound, TypeError) as err:
        raise LLMError(str(err)) from err
    try:
        model = factory(config, **options)
    except ModuleNotFoundError as err:
        extra = extra_providing(err.name or "")
        if extra is None:
            raise
        raise LLMError(
            f"controller backend {name!r} needs the [{extra}] extra, which is not installed "
            f"(no module {err.name!r}): {install_line(extra)}"
        ) from err
    if not isinstance(model, ChatModel):
        raise LLMError(
            f"controller backend {name!r} returned a {type(model).__name__}, not a ChatModel: it needs "
            "`label`, `is_replay` and `complete(messages, *, stop=None) -> str` (see llm/base.py)"
        )
    return model


def scripted_backend(config: ControllerConfig, *, replies: Sequence[str] | None = None) -> ChatModel:
    """The registered ``scripted`` backend: replays ``options.replies``, as the offline demo and tests do."""
    if replies is None:
        raise LLMError(
            "controller backend is 'scripted' but no script was given: configure a real backend "
            f"(controller.backend: openai with controller.base_url / ${ENV_BASE_URL}, or transformers "
            "with controller.model) or pass script=[...] of replies"
        )
    return ScriptedChatModel(list(replies))
