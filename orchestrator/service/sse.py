"""Reading a Server-Sent Events stream with httpx: event data in order, resumed after a dropped connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx

__all__ = ["read_events"]

RECONNECTS = 5


def read_events(
    http: httpx.Client, path: str, after: int, check: Callable[[httpx.Response], None]
) -> Iterator[str]:
    """The ``data`` of each event at ``path`` after event number ``after``, until the server ends the stream.

    A dropped connection is reopened with ``Last-Event-ID`` (up to :data:`RECONNECTS` times in a row);
    ``check`` raises for an HTTP error answer.
    """
    last = after
    failures = 0
    while True:
        try:
            headers = {"Accept": "text/event-stream", "Last-Event-ID": str(last)}
            timeout = httpx.Timeout(http.timeout.connect, read=120.0)
            with http.stream("GET", path, headers=headers, timeout=timeout) as response:
                check(response)
                data: list[str] = []
                event_id = None
                for line in response.iter_lines():
                    if line == "":
                        if data:
                            if event_id is not None and event_id.isdigit():
                                last = int(event_id)
                            failures = 0
                            yield "\n".join(data)
                        data, event_id = [], None
                    elif line.startswith(":"):
                        continue
                    else:
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "data":
                            data.append(value)
                        elif field == "id":
                            event_id = value
            return
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout, httpx.ConnectError):
            failures += 1
            if failures > RECONNECTS:
                raise
