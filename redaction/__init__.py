"""Keep secrets out of every text mm-reactor stores, logs or returns.

Two kinds of secret are removed by :func:`redact`:

- the values this process knows to be secret (the controller's API key, the password of a database
  URL, secret headers), registered with :func:`remember` by whoever reads them;
- text that has the shape of a credential whatever its value: ``Authorization: Bearer …``,
  ``api_key=…`` / ``"api_key": "…"``, ``x-api-key: …``, ``sk-…`` keys, and the password in a
  ``scheme://user:password@host`` URL.

It lives at the top of the tree, beside ``llm/`` and ``orchestrator/``, because both use it (the LLM
backend on an endpoint's error text, the orchestrator on everything it stores) and ``llm/`` never
imports ``orchestrator/``; it imports nothing of the project.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from pydantic import SecretStr

__all__ = [
    "MIN_SECRET_CHARS",
    "REDACTED",
    "SECRET_ENV_VARS",
    "forget_all",
    "redact",
    "redact_data",
    "remember",
]

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 6
"""Known values shorter than this are not replaced wherever they occur (that would mangle ordinary
text); the credential patterns still catch them in headers and ``key=value`` text."""

SECRET_ENV_VARS = ("MM_REACTOR_LLM_API_KEY", "OPENAI_API_KEY", "MM_REACTOR_POSTGRES_URL")
"""Environment variables holding the orchestrator's own secrets: Ray workers (expert replicas) never
need them, so an embedded Ray starts without them."""

_lock = threading.Lock()
_known: set[str] = set()
_known_pattern: re.Pattern[str] | None = None

_KEY_NAMES = (
    r"(?<![A-Za-z0-9_])(?:x-)?(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|client[_-]?secret|secret"
    r"|password|passwd|token)"
)
_PATTERNS = [
    # Authorization: Bearer abc / Authorization: Basic abc / "Authorization": "Bearer abc"
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:bearer|basic|token)?\s*[^\s\"',;}]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
    # api_key=abc, "api_key": "abc", x-api-key: abc, password: abc
    re.compile(rf"(?i)({_KEY_NAMES}[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}}]+"),
    # OpenAI-style keys wherever they are
    re.compile(r"()\bsk-[A-Za-z0-9_-]{16,}"),
    # scheme://user:password@host
    re.compile(r"([a-z][a-z0-9+.-]*://[^\s/:@]+:)[^\s/@]+(?=@)"),
]


def remember(*values: str | SecretStr | None) -> None:
    """Register secret values: from now on :func:`redact` replaces them wherever they appear."""
    global _known_pattern
    plain = [v.get_secret_value() if isinstance(v, SecretStr) else v for v in values]
    fresh = {v for v in plain if v and len(v) >= MIN_SECRET_CHARS} - _known
    if not fresh:
        return
    with _lock:
        _known.update(fresh)
        # longest first, so a secret that contains another is replaced whole
        alternatives = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(v) for v in alternatives))


def forget_all() -> None:
    """Forget the registered values (tests)."""
    global _known_pattern
    with _lock:
        _known.clear()
        _known_pattern = None


def redact(text: str, *, patterns: bool = True) -> str:
    """``text`` with every known secret value replaced and, with ``patterns``, every credential-shaped
    fragment too (error texts and logs). Expert outputs use ``patterns=False``: a sign that OCR reads
    as "password: 1234" is the answer, not a leak."""
    if not text:
        return text
    known = _known_pattern
    if known is not None:
        text = known.sub(REDACTED, text)
    if patterns:
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def redact_data(value: Any, *, patterns: bool = False) -> Any:
    """``value`` (JSON-like data) with :func:`redact` applied to every string in it, keys included."""
    if isinstance(value, str):
        return redact(value, patterns=patterns)
    if isinstance(value, dict):
        return {
            redact_data(k, patterns=patterns): redact_data(v, patterns=patterns) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_data(v, patterns=patterns) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_data(v, patterns=patterns) for v in value)
    return value
