"""Configuration of the controller LLM backend."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

import redaction
from extensions import ExtensionRef, LLMBackendSetting

__all__ = [
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_MODEL",
    "ENV_OPENAI_API_KEY",
    "ControllerConfig",
]

ENV_BASE_URL = "MM_REACTOR_LLM_BASE_URL"
ENV_MODEL = "MM_REACTOR_LLM_MODEL"
ENV_API_KEY = "MM_REACTOR_LLM_API_KEY"
ENV_OPENAI_API_KEY = "OPENAI_API_KEY"
_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret")


class ControllerConfig(BaseModel):
    """Which chat model drives the controller, and how to reach it.

    ``backend`` picks the implementation: ``"scripted"`` replays canned replies (offline demo and
    tests), ``"openai"`` talks to any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, Ray
    Serve LLM, Ollama ``/v1``, OpenAI), ``"transformers"`` runs a local Hugging Face causal LM.
    Any other backend is a registered name (entry point group ``mm_reactor.llm_backends``) or
    ``{class: package.module:Name, options: {...}}`` (docs/extending-llm-backends.md).
    """

    model_config = ConfigDict(extra="forbid")

    backend: LLMBackendSetting = Field(
        default="scripted",
        description="a registered backend (scripted, openai, transformers, or a plugin's) or "
        "{class: 'package.module:Name', options: {...}}",
    )

    # openai-compatible
    base_url: str | None = Field(
        default=None,
        description="Endpoint root, e.g. http://localhost:8000/v1 (the part before /chat/completions).",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description=f"Bearer key; when unset, read from ${ENV_API_KEY} or ${ENV_OPENAI_API_KEY}. A "
        "SecretStr: it shows as '**********' in dumps and reprs, and is redacted from every stored text.",
    )
    model: str | None = Field(
        default=None, description="Served model name (openai) or hub id / local directory (transformers)."
    )
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=512, gt=0)
    timeout_s: float = Field(default=60.0, gt=0.0)
    extra_headers: dict[str, str] = Field(
        default_factory=dict,
        description="headers sent with every request; the values of credential headers (names with "
        "'auth', 'key', 'token' or 'secret') are redacted from every stored text",
    )
    native_tools: bool = Field(
        default=True,
        description="call experts through the server's native tool calling (OpenAI `tools`) when it "
        "accepts them; a server that rejects tools falls back to the text format for that run",
    )

    # transformers
    device: str = Field(
        default="auto", description='"auto" (cuda if available, else cpu), "cpu", "cuda", "cuda:1", ...'
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_new_tokens: int = Field(default=512, gt=0)

    @field_validator("base_url")
    @classmethod
    def _strip_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        return value or None

    @model_validator(mode="after")
    def _remember_secrets(self) -> ControllerConfig:
        """Register the key and credential headers with :mod:`redaction`, so no stored text holds them."""
        redaction.remember(self.api_key)
        redaction.remember(
            *(v for k, v in self.extra_headers.items() if any(w in k.lower() for w in _SECRET_HEADER_WORDS))
        )
        return self

    @property
    def backend_name(self) -> str:
        """The backend's registered name, or its class path."""
        return self.backend.label if isinstance(self.backend, ExtensionRef) else self.backend

    def resolved_api_key(self) -> str | None:
        """The API key: the configured one, else ``$MM_REACTOR_LLM_API_KEY``, else ``$OPENAI_API_KEY``."""
        key = (
            (self.api_key.get_secret_value() if self.api_key else None)
            or os.environ.get(ENV_API_KEY)
            or os.environ.get(ENV_OPENAI_API_KEY)
            or None
        )
        redaction.remember(key)
        return key

    @classmethod
    def from_env(cls, base: ControllerConfig | None = None) -> ControllerConfig:
        """Return ``base`` (or the defaults) with environment overrides applied.

        ``$MM_REACTOR_LLM_BASE_URL`` sets ``base_url`` and selects the ``"openai"`` backend (a backend
        given by ``class`` keeps its class and gets the URL); ``$MM_REACTOR_LLM_MODEL`` sets ``model``;
        ``$MM_REACTOR_LLM_API_KEY`` sets ``api_key``, and ``$OPENAI_API_KEY`` does so only when the
        config has no key.
        """
        data: dict[str, Any] = (base or cls()).model_dump()
        base_url = os.environ.get(ENV_BASE_URL, "").strip()
        if base_url:
            data["base_url"] = base_url
            if not (isinstance(data["backend"], dict) and data["backend"].get("class_path")):
                data["backend"] = "openai"
        model = os.environ.get(ENV_MODEL, "").strip()
        if model:
            data["model"] = model
        key = os.environ.get(ENV_API_KEY, "").strip()
        if key:
            data["api_key"] = key
        elif not data.get("api_key"):
            data["api_key"] = os.environ.get(ENV_OPENAI_API_KEY, "").strip() or None
        return cls.model_validate(data)
