"""Checks of what a caller hands the SDK (task, session id, limits), before any work is done.

Each raises :class:`~orchestrator.errors.InputError` saying what was given and what is accepted.
"""

from __future__ import annotations

import re
import uuid

from orchestrator.errors import InputError

__all__ = ["MAX_TASK_CHARS", "check_deadline", "check_max_steps", "check_session", "check_task"]

SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_TASK_CHARS = 20_000


def check_task(task: object) -> str:
    if not isinstance(task, str) or not task.strip():
        raise InputError("the task must be a non-empty string saying what to do with the images")
    if len(task) > MAX_TASK_CHARS:
        raise InputError(f"the task is {len(task)} characters long; keep it under {MAX_TASK_CHARS}")
    return task.strip()


def check_session(session: object) -> str:
    if session is None:
        return uuid.uuid4().hex
    if not isinstance(session, str) or not SESSION_ID.match(session):
        raise InputError(
            f"session id {session!r} is not valid; use 1-128 letters, digits, '_', '.', ':' or '-'"
        )
    return session


def check_deadline(deadline_s: object, default: float | None) -> float | None:
    if deadline_s is None:
        return default
    if isinstance(deadline_s, bool) or not isinstance(deadline_s, (int, float)) or deadline_s <= 0:
        raise InputError(f"deadline_s must be a positive number of seconds, got {deadline_s!r}")
    return float(deadline_s)


def check_max_steps(max_steps: object, default: int) -> int:
    if max_steps is None:
        return default
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or not 1 <= max_steps <= 200:
        raise InputError(f"max_steps must be an integer from 1 to 200, got {max_steps!r}")
    return max_steps
