"""ControllerConfig (validation, environment overrides) and build_chat_model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm import (
    ControllerConfig,
    LLMError,
    OpenAICompatibleChatModel,
    ScriptedChatModel,
    TransformersChatModel,
    build_chat_model,
)

ENV_VARS = ("MM_REACTOR_LLM_BASE_URL", "MM_REACTOR_LLM_MODEL", "MM_REACTOR_LLM_API_KEY", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    cfg = ControllerConfig()
    assert cfg.backend == "scripted"
    assert cfg.temperature == 0.0
    assert cfg.max_tokens == 512
    assert cfg.timeout_s == 60
    assert cfg.extra_headers == {}
    assert cfg.device == "auto"
    assert cfg.dtype == "auto"


def test_forbids_unknown_fields_and_backends() -> None:
    with pytest.raises(ValidationError):
        ControllerConfig(modle="typo")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ControllerConfig(backend="anthropic")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ControllerConfig(dtype="int8")  # type: ignore[arg-type]


def test_base_url_trailing_slash_stripped() -> None:
    assert ControllerConfig(base_url="http://h:1/v1/").base_url == "http://h:1/v1"


def test_from_env_without_variables_keeps_base() -> None:
    base = ControllerConfig(backend="transformers", model="/models/qwen", max_new_tokens=64)
    assert ControllerConfig.from_env(base) == base
    assert ControllerConfig.from_env() == ControllerConfig()


def test_from_env_base_url_selects_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_REACTOR_LLM_BASE_URL", "http://localhost:8000/v1/")
    monkeypatch.setenv("MM_REACTOR_LLM_MODEL", "qwen2.5-7b")
    monkeypatch.setenv("MM_REACTOR_LLM_API_KEY", "sk-env")
    base = ControllerConfig(temperature=0.2)
    cfg = ControllerConfig.from_env(base)
    assert cfg.backend == "openai"
    assert cfg.base_url == "http://localhost:8000/v1"
    assert cfg.model == "qwen2.5-7b"
    assert cfg.api_key.get_secret_value() == "sk-env"
    assert cfg.temperature == 0.2
    assert base.backend == "scripted"  # the base is not mutated
    assert "sk-env" not in repr(cfg)


def test_from_env_model_only_keeps_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_REACTOR_LLM_MODEL", "/models/tiny")
    cfg = ControllerConfig.from_env(ControllerConfig(backend="transformers", model="other"))
    assert cfg.backend == "transformers"
    assert cfg.model == "/models/tiny"


def test_from_env_api_key_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert ControllerConfig.from_env().api_key.get_secret_value() == "sk-openai"
    # OPENAI_API_KEY does not override a configured key; MM_REACTOR_LLM_API_KEY does.
    assert (
        ControllerConfig.from_env(ControllerConfig(api_key="sk-cfg")).api_key.get_secret_value() == "sk-cfg"
    )
    monkeypatch.setenv("MM_REACTOR_LLM_API_KEY", "sk-mm")
    assert ControllerConfig.from_env(ControllerConfig(api_key="sk-cfg")).api_key.get_secret_value() == "sk-mm"


def test_resolved_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ControllerConfig().resolved_api_key() is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert ControllerConfig().resolved_api_key() == "sk-openai"
    assert ControllerConfig(api_key="sk-cfg").resolved_api_key() == "sk-cfg"


def test_factory_scripted() -> None:
    model = build_chat_model(ControllerConfig(), script=["hi"])
    assert isinstance(model, ScriptedChatModel)
    assert model.is_replay
    assert model.complete([{"role": "user", "content": "x"}]) == "hi"


def test_factory_scripted_without_script_explains() -> None:
    with pytest.raises(LLMError, match=r"no script was given.*configure a real backend"):
        build_chat_model(ControllerConfig())


def test_factory_openai() -> None:
    cfg = ControllerConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="m")
    model = build_chat_model(cfg)
    assert isinstance(model, OpenAICompatibleChatModel)
    assert model.is_replay is False
    assert model.label == "openai-compatible m @ http://127.0.0.1:9/v1"


def test_factory_openai_missing_settings() -> None:
    with pytest.raises(LLMError, match=r"base_url.*MM_REACTOR_LLM_BASE_URL"):
        build_chat_model(ControllerConfig(backend="openai", model="m"))
    with pytest.raises(LLMError, match=r"model name.*MM_REACTOR_LLM_MODEL"):
        build_chat_model(ControllerConfig(backend="openai", base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(LLMError, match="not an http"):
        build_chat_model(ControllerConfig(backend="openai", base_url="localhost:8000/v1", model="m"))


def test_factory_transformers_is_lazy() -> None:
    cfg = ControllerConfig(backend="transformers", model="/nonexistent/model/dir", device="cpu")
    model = build_chat_model(cfg)  # nothing is loaded yet, so a missing model is not an error here
    assert isinstance(model, TransformersChatModel)
    assert not model.loaded
    assert model.label == "transformers /nonexistent/model/dir on cpu"
    with pytest.raises(LLMError, match="needs a model"):
        build_chat_model(ControllerConfig(backend="transformers"))
