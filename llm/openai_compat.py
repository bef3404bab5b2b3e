"""Controller backend for any OpenAI-compatible ``/chat/completions`` endpoint.

Works with vLLM, Ray Serve LLM, Ollama (``http://localhost:11434/v1``) and OpenAI itself. With
``controller.native_tools`` (the default) it also calls tools natively through ``tools`` /
``tool_calls``; vLLM needs ``--enable-auto-tool-choice --tool-call-parser ...`` for that, and a
server that rejects tools raises :class:`~llm.base.ToolsUnsupported` so the caller can use text.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from llm.base import ChatMessage, ChatToolCall, LLMError, ToolCall, ToolChoice, ToolReply, ToolsUnsupported
from llm.config import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, ControllerConfig
from redaction import redact, remember

__all__ = ["OpenAICompatibleChatModel"]

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_MAX_BACKOFF_S = 30.0
# Statuses with which servers refuse a request's `tools`: vLLM without --enable-auto-tool-choice and
# Ollama models without tool support (400), llama.cpp without --jinja (500), validation errors (422).
_TOOLS_REFUSED_STATUSES = frozenset({400, 422, 500, 501})


class _Transient(LLMError):
    """A failure a retry may fix (connection refused, connect timeout, 429, 5xx)."""


class OpenAICompatibleChatModel:
    """Chat model that POSTs to ``{base_url}/chat/completions`` with a synchronous httpx client.

    Transient failures (connection errors, connect timeouts, 429 and 5xx) are retried ``max_retries`` times
    with a short exponential backoff (``backoff_s``, doubling; tenacity); anything else raises
    :class:`LLMError` at once. Requests go through httpx rather than the ``openai`` client so that a
    server refusing ``tools`` is recognised on the first reply (even a 500) instead of being retried,
    read timeouts are not repeated, and non-standard replies of local servers stay readable.
    """

    is_replay: bool = False
    supports_tools: bool

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
        remember(httpx.URL(self.base_url).password)  # a password in the URL is never quoted
        self.label: str = f"openai-compatible {self.model} @ {self.base_url}"
        self.max_retries = max(0, max_retries)
        self.backoff_s = max(0.0, backoff_s)
        self.supports_tools = config.native_tools
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

    def complete_with_tools(
        self, messages: list[ChatMessage], tools: list[dict[str, Any]], *, tool_choice: ToolChoice = "auto"
    ) -> ToolReply:
        """Send ``messages`` with ``tools`` (OpenAI function specs) and return the text and tool calls.

        Raises :class:`ToolsUnsupported` when native tools are switched off or the server refuses
        them, and :class:`LLMError` for every other failure.
        """
        if not self.supports_tools:
            raise ToolsUnsupported(
                f"native tool calling is switched off for {self.label} (controller.native_tools: false)"
            )
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [_wire_message(m) for m in messages],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if tools:  # OpenAI rejects an empty tools list
            payload["tools"] = list(tools)
            payload["tool_choice"] = tool_choice
        response = self._post_with_retries(payload)
        return self._parse_tool_reply(response)

    def _post_with_retries(self, payload: dict[str, Any]) -> httpx.Response:
        """POST ``payload``; transient failures are retried with exponential backoff (tenacity)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=self.backoff_s, min=0, max=_MAX_BACKOFF_S),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._post(payload, attempt.retry_state.attempt_number)
        except _Transient as err:  # the last attempt failed too: its message says how often we tried
            raise LLMError(str(err)) from err.__cause__
        raise AssertionError("unreachable")  # pragma: no cover -- reraise=True re-raises the last error

    def _post(self, payload: dict[str, Any], attempt: int) -> httpx.Response:
        """One POST; raises :class:`_Transient` for what a retry may fix, :class:`LLMError` otherwise."""
        attempts = self.max_retries + 1
        try:
            response = self._client.post(self.url, json=payload)
        except httpx.TimeoutException as exc:
            error = (
                f"controller LLM at {self.url} did not answer within {self.config.timeout_s:g}s "
                f"({type(exc).__name__}, attempt {attempt}): is the server running, overloaded or "
                "still loading the model? check it, or raise controller.timeout_s"
            )
            # A connect timeout is transient; a read timeout already waited timeout_s, so don't repeat it.
            raise (_Transient if isinstance(exc, httpx.ConnectTimeout) else LLMError)(error) from exc
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            raise _Transient(
                f"cannot reach the controller LLM at {self.url} ({type(exc).__name__}: {_shown(exc, 500)}; "
                f"{attempts} attempts): is the server running? start it, or point "
                f"${ENV_BASE_URL} / controller.base_url at a running OpenAI-compatible endpoint"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise LLMError(
                f"request to the controller LLM at {self.url} failed "
                f"({type(exc).__name__}: {_shown(exc, 500)}): "
                f"check ${ENV_BASE_URL} / controller.base_url (scheme, host, port)"
            ) from exc
        if response.status_code < 400:
            return response
        if "tools" in payload:
            self._check_tools_accepted(response)  # a refusal is final, even as a 500
        failure = self._status_error(response, attempt)
        if response.status_code in _RETRY_STATUSES:
            raise _Transient(str(failure))
        raise failure

    def _check_tools_accepted(self, response: httpx.Response) -> None:
        """Raise :class:`ToolsUnsupported` when an error response says the server refuses ``tools``."""
        status = response.status_code
        detail = _error_detail(response)
        if status in _TOOLS_REFUSED_STATUSES and "tool" in detail.lower():
            raise ToolsUnsupported(
                f"controller LLM at {self.url} refused native tool calls (HTTP {status}: {detail}) -- "
                "the controller falls back to the text format; to call tools natively, enable them on the "
                "server (vLLM: --enable-auto-tool-choice --tool-call-parser <parser>; Ollama: a model with "
                "tool support; llama.cpp: --jinja), or set controller.native_tools: false to skip the attempt"
            )

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

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise LLMError(
                f"controller LLM at {self.url} returned a non-JSON body (HTTP {response.status_code}): "
                f"{_shown(response.text)!r} -- is base_url an OpenAI-compatible endpoint (usually ending "
                "in /v1)?"
            ) from exc

    def _parse_tool_reply(self, response: httpx.Response) -> ToolReply:
        body = self._json(response)
        try:
            message = body["choices"][0]["message"]
            content = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(
                f"controller LLM at {self.url} returned an unexpected body (no choices[0].message): "
                f"{_shown(body)} -- is base_url an OpenAI-compatible chat endpoint?"
            ) from exc
        if content is not None and not isinstance(content, str):
            raise LLMError(
                f"controller LLM at {self.url} returned non-text content ({type(content).__name__}): "
                "the controller needs a plain-text reply"
            )
        raw_calls = message.get("tool_calls")
        if not raw_calls and isinstance(message.get("function_call"), dict):  # legacy single call
            raw_calls = [{"function": message["function_call"]}]
        if raw_calls is not None and not isinstance(raw_calls, list):
            raise LLMError(
                f"controller LLM at {self.url} returned tool_calls that are not a list: {_shown(raw_calls)}"
            )
        calls: list[ToolCall] = []
        for index, raw in enumerate(raw_calls or []):
            function = raw.get("function") if isinstance(raw, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            if not isinstance(function, dict) or not isinstance(name, str) or not name:
                raise LLMError(
                    f"controller LLM at {self.url} returned tool call #{index} without a function name: "
                    f"{_shown(raw)} -- is the server's tool-call parser right for this model?"
                )
            call_id = raw.get("id")
            if not isinstance(call_id, str) or not call_id or call_id in {c.id for c in calls}:
                call_id = f"call_{index}" if not call_id else f"{call_id}_{index}"
            calls.append(ToolCall(call_id, name, _decode_arguments(function.get("arguments"))))
        return ToolReply(content or "", calls)

    def _parse(self, response: httpx.Response) -> str:
        body = self._json(response)
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                f"controller LLM at {self.url} returned an unexpected body (no choices[0].message.content): "
                f"{_shown(body)} -- is base_url an OpenAI-compatible chat endpoint?"
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
        return _shown(response.text).strip() or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return _shown(err)
    return _shown(body)


def _shown(value: Any, limit: int = 200) -> str:
    """What of a server's reply (or an error) an error message quotes: secrets redacted, then cut.

    Some endpoints echo the request's headers in a 401 body; the key never reaches a message.
    """
    return redact(str(value))[:limit]


def _decode_arguments(raw: Any) -> dict[str, Any] | str:
    """A call's arguments as a dict; text that is not a JSON object is kept as it came."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, dict):  # some servers send the object itself
        return raw
    if not isinstance(raw, str):
        return json.dumps(raw)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return raw
    return value if isinstance(value, dict) else raw


def _wire_call(call: ChatToolCall) -> dict[str, Any]:
    """A tool call in OpenAI's wire format; arguments that were not a JSON object are sent as ``{}``.

    Servers decode the arguments of earlier calls to render their chat template, and invalid JSON
    there fails the whole request; the tool message that answers the call quotes the bad text.
    """
    arguments = call["arguments"]
    if isinstance(arguments, str):
        decoded = _decode_arguments(arguments)
        text = arguments if isinstance(decoded, dict) and arguments.strip() else "{}"
    else:
        text = json.dumps(arguments, ensure_ascii=False)
    return {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": text}}


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    """A chat message in OpenAI's wire format, with its tool calls or the id of the call it answers."""
    wire: dict[str, Any] = {"role": message["role"], "content": message["content"]}
    calls = message.get("tool_calls")
    if calls:
        wire["tool_calls"] = [_wire_call(c) for c in calls]
        if not message["content"]:
            wire["content"] = None  # what OpenAI itself sends for a reply that only calls tools
    if message["role"] == "tool":
        call_id = message.get("tool_call_id")
        if not call_id:
            raise LLMError("a tool message needs the tool_call_id of the call it answers (a caller bug)")
        wire["tool_call_id"] = call_id
    return wire
