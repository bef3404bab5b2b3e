"""Secrets stay out of dumps, errors, results and the checkpoint database."""

from __future__ import annotations

import json

import pytest

import redaction
from llm.base import LLMError
from llm.config import ControllerConfig
from llm.openai_compat import OpenAICompatibleChatModel
from orchestrator.config import load_config
from redaction import REDACTED, redact, redact_data
from tests.support.fake_openai import FakeOpenAI

KEY = "hunter2-correct-horse-battery"  # shaped like no known credential: only its value can catch it


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("401: Authorization: Bearer abc.def-ghi", "401: Authorization: "),
        ('{"authorization": "Bearer abcdef123"}', '{"authorization": "'),
        ("curl -H 'x-api-key: abcdef123456' …", "curl -H 'x-api-key: "),
        ("GET /v1?api_key=abcdef123456&x=1", "GET /v1?api_key="),
        ('{"api_key": "abcdef123456"}', '{"api_key": "'),
        ("used sk-proj-AbCdEf0123456789xyz here", "used "),
        ("postgresql://app:s3cr3t-pw@db:5432/x", "postgresql://app:"),
    ],
)
def test_credential_shaped_text_is_redacted(text, kept):
    cleaned = redact(text)
    assert cleaned.startswith(kept) and REDACTED in cleaned
    for secret in ("abc.def-ghi", "abcdef123", "abcdef123456", "AbCdEf0123456789xyz", "s3cr3t-pw"):
        assert secret not in cleaned


def test_ordinary_text_is_left_alone():
    for text in ("max_tokens=512", "the tokens: 12", "a bearer of good news", "box [0, 0, 10, 10]"):
        assert redact(text) == text


def test_known_values_are_redacted_everywhere_and_expert_outputs_keep_their_words():
    redaction.remember(KEY)
    assert redact(f"the key was {KEY}.") == f"the key was {REDACTED}."
    output = {"text": f"password: 1234 and {KEY}", "lines": [{"text": KEY}]}
    assert redact_data(output) == {"text": f"password: 1234 and {REDACTED}", "lines": [{"text": REDACTED}]}


def test_short_values_are_not_replaced_wherever_they_occur():
    redaction.remember("abc")
    assert redact("abcdef") == "abcdef"


def test_the_api_key_is_a_secret_in_every_dump():
    config = load_config({"controller": {"backend": "openai", "api_key": KEY, "base_url": "http://x/v1"}})
    assert config.controller.resolved_api_key() == KEY
    for text in (
        repr(config),
        str(config.model_dump()),
        config.model_dump_json(),
        json.dumps(config.model_dump(mode="json")),
    ):
        assert KEY not in text


def test_the_database_password_is_a_secret(monkeypatch):
    config = load_config({"checkpointer": "postgres", "postgres_url": "postgresql://app:pw-0123456@db/x"})
    assert "pw-0123456" not in config.model_dump_json() and "pw-0123456" not in repr(config)
    assert (
        redact("connection to db as app with pw-0123456 failed")
        == f"connection to db as app with {REDACTED} failed"
    )


def test_a_401_echoing_the_key_never_reaches_the_error():
    server = FakeOpenAI([], refuse_with_echo=True)
    try:
        model = OpenAICompatibleChatModel(
            ControllerConfig(backend="openai", base_url=server.url, model="m", api_key=KEY), max_retries=0
        )
        with pytest.raises(LLMError) as caught:
            model.complete([{"role": "user", "content": "hi"}])
    finally:
        server.close()
    assert "HTTP 401" in str(caught.value) and "invalid credentials" in str(caught.value)
    assert KEY not in str(caught.value)


@pytest.mark.ray
def test_a_401_echoing_the_key_stays_out_of_the_result_and_the_database(orch, data_dir):
    secret = "sk-live-redaction-check-0123456789"
    server = FakeOpenAI([], refuse_with_echo=True)
    try:
        model = OpenAICompatibleChatModel(
            ControllerConfig(backend="openai", base_url=server.url, model="m", api_key=secret), max_retries=0
        )
        result = orch.run("read the sign", chat_model=model, session="redaction-401")
    finally:
        server.close()
    assert result.status == "failed" and "HTTP 401" in (result.failure or "")
    assert secret not in (result.failure or "") and secret not in result.model_dump_json()
    stored = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("sessions.sqlite") for p in stored)
    assert not [p.name for p in stored if secret.encode() in p.read_bytes()]
