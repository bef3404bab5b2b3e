"""Controller LLM backends behind one :class:`ChatModel` protocol."""

from llm.base import (
    ChatMessage,
    ChatModel,
    ChatToolCall,
    LLMError,
    ToolCall,
    ToolCallingChatModel,
    ToolChoice,
    ToolReply,
    ToolsUnsupported,
    supports_native_tools,
)
from llm.config import ControllerConfig
from llm.factory import build_chat_model
from llm.openai_compat import OpenAICompatibleChatModel
from llm.scripted import ScriptedChatModel, ScriptEntry
from llm.transformers_local import TransformersChatModel

__all__ = [
    "ChatMessage",
    "ChatModel",
    "ChatToolCall",
    "ControllerConfig",
    "LLMError",
    "OpenAICompatibleChatModel",
    "ScriptEntry",
    "ScriptedChatModel",
    "ToolCall",
    "ToolCallingChatModel",
    "ToolChoice",
    "ToolReply",
    "ToolsUnsupported",
    "TransformersChatModel",
    "build_chat_model",
    "supports_native_tools",
]
