"""The models behind the ``text`` expert: a local chat causal LM, the MLLM without an image, or an
OpenAI-compatible endpoint. Each answers a batch of chat requests in one go:

- ``transformers``: one left-padded, batched greedy ``generate`` (``AutoModelForCausalLM``);
- ``mllm``: the same through a Qwen2-VL or LLaVA checkpoint's processor, with text only;
- ``openai``: one HTTP request per item, all in flight at once (the server batches them), through
  :class:`llm.openai_compat.OpenAICompatibleChatModel`.

Imported by ``Text.setup()`` only (it imports torch/transformers lazily, httpx at once).
"""

from __future__ import annotations

import copy
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import SecretStr

from experts._chat_generate import generate_chat
from experts._loading import load_model
from llm.base import ChatMessage, LLMError
from llm.config import ControllerConfig
from llm.openai_compat import OpenAICompatibleChatModel
from loading import ModelNotAvailable, pick_device, pick_dtype

__all__ = ["ENV_API_KEY", "CausalLM", "Endpoint", "MllmText", "Request", "TextBackend"]

ENV_API_KEY = "MM_REACTOR_TEXT_API_KEY"
"""Where the openai backend reads its key on the replica when ``options.api_key`` is not set."""
MAX_CONCURRENT_REQUESTS = 16


@dataclass(frozen=True)
class Request:
    """One chat to answer: system and user text, and the longest answer in tokens."""

    system: str
    user: str
    max_new_tokens: int

    def messages(self) -> list[ChatMessage]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


class TextBackend(Protocol):
    """Answers chats, a batch at a time, greedily (the same input gives the same answer)."""

    label: str

    def generate(self, requests: list[Request]) -> list[str]: ...


def _decode(tokenizer: Any, output: Any, prompt_length: int, requests: list[Request]) -> list[str]:
    """Each row's new tokens, cut at its own limit (greedy: the first n tokens do not depend on more)."""
    rows = output[:, prompt_length:]
    return [
        tokenizer.decode(row[: r.max_new_tokens], skip_special_tokens=True).strip()
        for row, r in zip(rows, requests, strict=True)
    ]


class CausalLM:
    """A local chat causal LM (``AutoTokenizer`` + ``AutoModelForCausalLM`` from ``model``)."""

    def __init__(self, model: str, *, device: str, dtype: str, expert: str) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from experts._mllm_families import greedy_config

        self.device = pick_device(device)
        tokenizer = load_model(AutoTokenizer.from_pretrained, model, expert=expert)
        if not getattr(tokenizer, "chat_template", None):
            raise ModelNotAvailable(
                f"expert '{expert}': model '{model}' has no chat template, so instructions cannot be "
                "formatted; set options.model to an instruction-tuned (chat) model"
            )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        network = load_model(
            AutoModelForCausalLM.from_pretrained, model, expert=expert, dtype=pick_dtype(dtype, self.device)
        )
        self.model = network.to(self.device).eval()
        self.tokenizer = tokenizer
        self.generation = greedy_config(self.model, tokenizer.pad_token_id)
        self.label = f"transformers {model} on {self.device}"

    def generate(self, requests: list[Request]) -> list[str]:
        import torch

        prompts = [
            self.tokenizer.apply_chat_template(r.messages(), add_generation_prompt=True, tokenize=False)
            for r in requests
        ]
        # The template already wrote any BOS token: do not add special tokens again.
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(self.device)
        generation = copy.copy(self.generation)
        generation.max_new_tokens = max(r.max_new_tokens for r in requests)
        with torch.inference_mode():
            output = self.model.generate(**encoded, generation_config=generation)
        return _decode(self.tokenizer, output, encoded["input_ids"].shape[1], requests)


class MllmText:
    """The multimodal LLM (a Qwen2-VL or LLaVA checkpoint) answering from text alone."""

    def __init__(self, family: str, model: str, *, device: str, dtype: str, expert: str) -> None:
        from experts._mllm_families import greedy_config, load_family

        self.device = pick_device(device)
        self.processor, self.model = load_family(
            family, model, expert=expert, device=self.device, dtype=pick_dtype(dtype, self.device)
        )
        self.generation = greedy_config(self.model, self.processor.tokenizer.pad_token_id)
        self.label = f"mllm ({family}) {model} on {self.device}, text only"

    def generate(self, requests: list[Request]) -> list[str]:

        conversations = [
            [
                {"role": "system", "content": [{"type": "text", "text": r.system}]},
                {"role": "user", "content": [{"type": "text", "text": r.user}]},
            ]
            for r in requests
        ]
        limits = [r.max_new_tokens for r in requests]
        return generate_chat(self.processor, self.model, self.generation, conversations, limits)


class Endpoint:
    """An OpenAI-compatible chat endpoint; a batch's requests are all in flight at once.

    The key comes from ``api_key`` or ``$MM_REACTOR_TEXT_API_KEY`` on the replica; it is sent only
    as the bearer header and is never part of a label, a message or an output.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None, timeout_s: float) -> None:
        key = api_key or os.environ.get(ENV_API_KEY) or None
        self._config = ControllerConfig(
            backend="openai",
            base_url=base_url,
            model=model,
            api_key=SecretStr(key) if key else None,
            temperature=0.0,
            timeout_s=timeout_s,
            native_tools=False,
        )
        self.label = f"openai-compatible {model} @ {self._config.base_url}"
        self._clients: dict[int, OpenAICompatibleChatModel] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(MAX_CONCURRENT_REQUESTS, thread_name_prefix="text-endpoint")

    def _client(self, max_tokens: int) -> OpenAICompatibleChatModel:
        """A client asking for ``max_tokens`` (one per distinct limit; they share nothing else)."""
        with self._lock:
            client = self._clients.get(max_tokens)
            if client is None:
                config = self._config.model_copy(update={"max_tokens": max_tokens})
                client = self._clients[max_tokens] = OpenAICompatibleChatModel(config)
            return client

    def _one(self, request: Request) -> str:
        try:
            return self._client(request.max_new_tokens).complete(request.messages()).strip()
        except LLMError as err:
            raise RuntimeError(f"the text expert's endpoint failed: {err}") from err

    def generate(self, requests: list[Request]) -> list[str]:
        return list(self._pool.map(self._one, requests))
