"""Controller backend for any OpenAI-compatible ``/chat/completions`` endpoint.

Works with vLLM, Ray Serve LLM, Ollama (``http://localhost:11434/v1``) and OpenAI itself.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from llm.base import ChatMessage, LLMError
from llm.config import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, ControllerConfig

__all__ = ["OpenAICompatibleChatModel"]

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class OpenAICompatibleChatModel:
    """Chat model that POSTs to ``{base_url}/chat/completions`` with a synchronous httpx client.

    Transient failures (connection errors, connect timeouts, 429 and 5xx) are retried ``max_retries`` times
    with a short exponential backoff; anything else raises :class:`LLMError`.
    """

    is_replay: bool = False

    def __init__(
        self,
        config: ControllerConfig,
        *,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not config.base_url:
            raise LLMError(
                "the openai controller backend needs a base_url (e.g. http://localhost:8000/v1 for vLLM, "
                f"http://localhost:11434/v1 for Ollama): set controller.base_url or ${ENV_BASE_URL}"
            )
        if not config.base_url.startswith(("http://", "https://")):
            raise LLMError(
                f"controller base_url {config.base_url!r} is not an http(s) URL: set controller.base_url or "
                f"${ENV_BASE_URL} to something like http://localhost:8000/v1"
            )
        if not config.model:
            raise LLMError(
                f"the openai controller backend needs a model name (what {config.base_url}/models lists): "
                f"set controller.model or ${ENV_MODEL}"
            )
        self.config = config
        self.base_url: str = config.base_url.rstrip("/")
        self.model: str = config.model
        self.url = f"{self.base_url}/chat/completions"
        self.label: str = f"openai-compatible {self.model} @ {self.base_url}"
        self.max_retries = max(0, max_retries)
        self.backoff_s = max(0.0, backoff_s)
        headers = {"Content-Type": "application/json", **config.extra_headers}
        api_key = config.resolved_api_key()
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(headers=headers, timeout=config.timeout_s, transport=transport)

    def __repr__(self) -> str:
        return f"OpenAICompatibleChatModel({self.label!r})"

    def close(self) -> None:
        """Close the underlying HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> OpenAICompatibleChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(self, messages: list[ChatMessage], *, stop: list[str] | None = None) -> str:
        """Send ``messages`` and return the first choice's content; raise :class:`LLMError` on failure."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if stop:
            payload["stop"] = list(stop)
        response = self._post_with_retries(payload)
        return self._parse(response)

    def _post_with_retries(self, payload: dict[str, Any]) -> httpx.Response:
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            last_try = attempt == attempts
            try:
                response = self._client.post(self.url, json=payload)
            except httpx.TimeoutException as exc:
                # A connect timeout is transient; a read timeout already waited timeout_s, so don't repeat it.
                if last_try or not isinstance(exc, httpx.ConnectTimeout):
                    raise LLMError(
                        f"controller LLM at {self.url} did not answer within {self.config.timeout_s:g}s "
                        f"({type(exc).__name__}, attempt {attempt}): is the server running, overloaded or "
                        "still loading the model? check it, or raise controller.timeout_s"
                    ) from exc
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                if last_try:
                    raise LLMError(
                        f"cannot reach the controller LLM at {self.url} ({type(exc).__name__}: {exc}; "
                        f"{attempts} attempts): is the server running? start it, or point "
                        f"${ENV_BASE_URL} / controller.base_url at a running OpenAI-compatible endpoint"
                    ) from exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise LLMError(
                    f"request to the controller LLM at {self.url} failed ({type(exc).__name__}: {exc}): "
                    f"check ${ENV_BASE_URL} / controller.base_url (scheme, host, port)"
                ) from exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in _RETRY_STATUSES or last_try:
                    raise self._status_error(response, attempt)
            time.sleep(self.backoff_s * (2 ** (attempt - 1)))
        raise AssertionError("unreachable")  # pragma: no cover

    def _status_error(self, response: httpx.Response, attempts: int) -> LLMError:
        status = response.status_code
        detail = _error_detail(response)
        if status in (401, 403):
            remedy = f"check the API key (controller.api_key or ${ENV_API_KEY})"
        elif status == 404:
            remedy = (
                f"check that controller.base_url ends where /chat/completions begins (usually .../v1) and "
                f"that model {self.model!r} is served there"
            )
        elif status == 429:
            remedy = "the server is rate limiting: wait and retry, or lower the request rate"
        elif status >= 500:
            remedy = "the server failed: check its logs (out of memory? model still loading?)"
        else:
            remedy = (
                f"the server rejected the request: check controller.model ({self.model!r}), max_tokens and "
                "the prompt length"
            )
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return LLMError(f"controller LLM at {self.url} returned HTTP {status}{tries}: {detail} -- {remedy}")

    def _parse(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError as exc:
            raise LLMError(
                f"controller LLM at {self.url} returned a non-JSON body (HTTP {response.status_code}): "
                f"{response.text[:200]!r} -- is base_url an OpenAI-compatible endpoint (usually ending "
                "in /v1)?"
            ) from exc
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                f"controller LLM at {self.url} returned an unexpected body (no choices[0].message.content): "
                f"{str(body)[:200]} -- is base_url an OpenAI-compatible chat endpoint?"
            ) from exc
        if content is None:
            return ""
        if not isinstance(content, str):
            raise LLMError(
                f"controller LLM at {self.url} returned non-text content ({type(content).__name__}): "
                "the controller needs a plain-text reply"
            )
        return content


def _error_detail(response: httpx.Response) -> str:
    """Best-effort short error text from an error response."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return str(err)[:200]
    return str(body)[:200]
