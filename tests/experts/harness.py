"""Helpers every expert test uses: deploy an expert on the shared Ray and call it through the SDK."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from llm.scripted import ScriptedChatModel
from orchestrator import Orchestrator, Result


@contextmanager
def deployed(orch: Orchestrator, expert: Any, **settings: Any) -> Iterator[str]:
    """Deploy ``expert`` (a class or built-in name) for the duration of the block; yields its name."""
    orch.add_expert(expert, **settings)
    name = expert if isinstance(expert, str) else expert.name
    name = settings.get("name") or name
    try:
        yield name
    finally:
        orch.remove_expert(name)


def call_tool(
    orch: Orchestrator,
    tool: str,
    arguments: dict[str, Any] | Sequence[dict[str, Any]],
    images: Sequence[Any] = (),
    session: str | None = None,
    *,
    expect_errors: Collection[int] = (),
) -> Result:
    """Run one controller turn that calls ``tool`` (once per arguments dict, concurrently), then answer.

    The scripted controller answers whatever the calls did, so ``result.ok`` alone proves nothing:
    every call must succeed, except the calls at the positions in ``expect_errors``, which must fail.
    """
    calls = [arguments] if isinstance(arguments, dict) else list(arguments)
    turn = "Thought: test call\n" + "\n".join(
        f"Action: {tool}\nAction Input: {json.dumps(args)}" for args in calls
    )
    script = ScriptedChatModel([turn, "Thought: done\nFinal Answer: done"])
    result = orch.run(f"test {tool}", images=list(images), session=session, chat_model=script)
    assert result.ok, result.failure
    steps = [s for s in result.steps if s.tool]
    assert len(steps) == len(calls), f"{len(calls)} {tool} calls asked for, {len(steps)} ran"
    failed = {i: s.error for i, s in enumerate(steps) if s.error and i not in expect_errors}
    assert not failed, f"{tool} calls failed (pass expect_errors if a test wants that): {failed}"
    succeeded = [i for i in expect_errors if not steps[i].error]
    assert not succeeded, f"{tool} calls {succeeded} were expected to fail but succeeded"
    return result


def observation(result: Result, index: int = 0) -> dict[str, Any]:
    """The parsed JSON observation of the result's ``index``-th tool step."""
    steps = [s for s in result.steps if s.tool]
    return json.loads(steps[index].observation)
