"""Controller LLM backends behind one :class:`ChatModel` protocol."""

from llm.base import ChatMessage, ChatModel, LLMError
from llm.config import ControllerConfig
from llm.factory import build_chat_model
from llm.openai_compat import OpenAICompatibleChatModel
from llm.scripted import ScriptedChatModel, ScriptEntry
from llm.transformers_local import TransformersChatModel

__all__ = [
    "ChatMessage",
    "ChatModel",
    "ControllerConfig",
    "LLMError",
    "OpenAICompatibleChatModel",
    "ScriptEntry",
    "ScriptedChatModel",
    "TransformersChatModel",
    "build_chat_model",
]
