"""Deploy expert applications and wait, for a bounded time, until every replica runs.

Failures say why: a ``setup()`` that raised is reported with its exception type, message and last
frames (the replica raises :class:`~experts.deployment.ExpertSetupError`, whose text Serve keeps in
the deployment's status message); a deployment still not running at the deadline says what it still
waits for (replicas starting, resources). The lines naming worker processes (pid, node address,
actor id) go to the log only. Applications this rollout created are deleted when it fails.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from experts.deployment import ExpertSetupError
from orchestrator.errors import DeploymentError
from redaction import redact

__all__ = ["AppToDeploy", "failure_cause", "roll_out"]

log = logging.getLogger(__name__)
POLL_S = 0.25
PROGRESS_EVERY_S = 30.0
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PROCESS_LINE = re.compile(r"\(pid=\d+|actor_id=|ip=\d")
_SETUP_MARKER = f"{ExpertSetupError.__name__}: "


@dataclass(frozen=True)
class AppToDeploy:
    """One expert's Serve application: the expert's name, the application's name and the app."""

    expert: str
    app_name: str
    app: Application


def failure_cause(message: str) -> str:
    """What a deployment's status message says went wrong, without worker-process details."""
    text = _ANSI.sub("", message or "").strip()
    if _SETUP_MARKER in text:
        return redact(text.rsplit(_SETUP_MARKER, 1)[1].strip())
    lines = [line for line in text.splitlines() if line.strip() and not _PROCESS_LINE.search(line)]
    if not lines:
        return "no reason given"
    head = lines[0].split(" Error:")[0].strip()
    last = lines[-1].strip()
    return redact(head if head == last else f"{head} Last error: {last}")


def _value(status: Any) -> str:
    return str(getattr(status, "value", status))


def _state(app_name: str, applications: dict[str, Any]) -> tuple[str, str, str]:
    """(application status, replica summary, deployment message) of one application."""
    app = applications.get(app_name)
    if app is None:
        return "NOT_STARTED", "no replicas yet", ""
    replicas, messages = [], []
    for deployment in app.deployments.values():
        states = {_value(k): n for k, n in deployment.replica_states.items()}
        counted = ", ".join(f"{k.lower()}: {n}" for k, n in sorted(states.items()))
        replicas.append(counted or "no replicas yet")
        if deployment.message:
            messages.append(deployment.message)
    return _value(app.status), "; ".join(replicas), "\n".join(messages)


def _remove(names: list[str]) -> None:
    for name in names:
        try:
            serve.delete(name, _blocking=False)
        except Exception as err:  # best effort: the error being raised matters more
            log.warning("could not delete the application %s: %s", name, err)


def roll_out(
    apps: list[AppToDeploy],
    *,
    timeout_s: float,
    waiting: list[str],
    on_ready: Callable[[str, float], None] | None = None,
) -> list[DeploymentHandle]:
    """Deploy ``apps`` at once and wait until all run; :class:`DeploymentError` saying why otherwise.

    ``serve.run_many`` is a DeveloperAPI in Ray 2.60 (it may change in a minor release): it is used
    here and nowhere else, and pyproject pins Ray to the tested range. It starts every app before
    waiting, so N experts come up in about the time of the slowest instead of one after another.
    ``waiting`` are lines saying what resources the deployment waits for (logged while it waits).
    ``on_ready(expert, seconds)`` is called once per expert, as it starts running (progress).
    """
    existing = set(serve.status().applications)
    targets = [serve.RunTarget(target=a.app, name=a.app_name, route_prefix=None) for a in apps]
    handles = list(serve.run_many(targets, wait_for_applications_running=False))
    created = [a.app_name for a in apps if a.app_name not in existing]
    names = ", ".join(a.expert for a in apps)
    started = last_note = time.monotonic()
    ready: set[str] = set()
    if waiting:
        log.warning("deploying %s: %s…", names, "; ".join(waiting))
    while True:
        applications = serve.status().applications
        states = {a.expert: _state(a.app_name, applications) for a in apps}
        failed = {
            name: failure_cause(message)
            for name, (status, _, message) in states.items()
            if status in ("DEPLOY_FAILED", "UNHEALTHY") or _SETUP_MARKER in message
        }
        if failed:
            for name, (_, _, message) in states.items():
                if name in failed:
                    log.error("deploying expert %s failed: %s", name, redact(_ANSI.sub("", message)))
            _remove(created)
            raise DeploymentError(
                "deploying experts failed:\n"
                + "\n".join(f"- {name}: {cause}" for name, cause in failed.items())
                + "\nFix the cause (a setup() that cannot find model weights names the model id to provide); "
                "the replicas' logs are under the Ray session directory (logs/serve/)."
            )
        for name, (status, _, _) in states.items():
            if status == "RUNNING" and name not in ready:
                ready.add(name)
                if on_ready is not None:
                    on_ready(name, time.monotonic() - started)
        if len(ready) == len(states):
            return handles
        now = time.monotonic()
        if now - started > timeout_s:
            _remove(created)
            raise DeploymentError(_timed_out(states, timeout_s, waiting))
        if now - last_note > PROGRESS_EVERY_S:
            last_note = now
            pending = "; ".join(f"{n} ({r})" for n, (s, r, _) in states.items() if s != "RUNNING")
            still = f"; {'; '.join(waiting)}" if waiting else ""
            log.warning("still deploying after %.0f s: %s%s…", now - started, pending, still)
        time.sleep(POLL_S)


def _timed_out(states: dict[str, tuple[str, str, str]], timeout_s: float, waiting: list[str]) -> str:
    lines = [
        f"- {name}: {replicas}" + (f" ({failure_cause(message)})" if message else "")
        for name, (status, replicas, message) in states.items()
        if status != "RUNNING"
    ]
    reason = (
        "still " + "; ".join(waiting)
        if waiting
        else "a setup() that has not returned (it hangs, or loading takes longer than that)"
    )
    return (
        f"these experts were not running after {timeout_s:g} s (ray.deploy_timeout_s):\n"
        + "\n".join(lines)
        + f"\nMost likely: {reason}. Raise ray.deploy_timeout_s if loading really takes longer, or "
        "check the replicas' logs under the Ray session directory (logs/serve/)."
    )
