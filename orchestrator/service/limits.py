"""Per-key request rates, and the errors the API answers with (status, message, headers)."""

from __future__ import annotations

import math
import threading
import time

__all__ = ["ApiError", "RateLimiter"]


class ApiError(Exception):
    """An answer other than success: the HTTP status, a message for people, and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class RateLimiter:
    """A token bucket per owner: ``per_minute`` requests a minute, bursts up to a tenth of it (at least 10).

    The count is per ingress replica: with several replicas a key may reach up to N times the rate.
    """

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(10, per_minute // 10))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, owner: str) -> None:
        """Take one token for ``owner``; raise a 429 :class:`ApiError` with Retry-After when there is none."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(owner, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens < 1.0:
                self._buckets[owner] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
                raise ApiError(
                    429,
                    f"too many requests for this API key (limit {round(self.rate * 60)} a minute); "
                    f"retry in {wait} s",
                    {"Retry-After": str(wait)},
                )
            self._buckets[owner] = (tokens - 1.0, now)
