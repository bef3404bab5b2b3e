"""plan_wave: pick the next wave of a plan, resolve its step references, and hand it to act."""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from experts.base import artifact_kind_of
from orchestrator.agent.context import RunContext
from orchestrator.agent.plan import REFERENCE, reference_id
from orchestrator.agent.plan_map import MapError, empty_result, expand
from orchestrator.agent.state import AgentState, PendingCall

__all__ = ["ReferenceError", "plan_wave", "resolve_references"]


class ReferenceError(ValueError):
    """A step reference that the finished steps cannot satisfy."""


def _follow(value: Any, path: str, ref: str) -> Any:
    for key, index in re.findall(r"\.([A-Za-z_]\w*)|\[(\d+)\]", path):
        try:
            value = value[key] if key else value[int(index)]
        except (KeyError, IndexError, TypeError):
            raise ReferenceError(f"{ref}: the step's output has no {path!r}") from None
    return value


def _resolve_one(match: re.Match[str], kind: str | None, results: dict[str, Any]) -> Any:
    ref = match.group(0)
    result = results.get(str(reference_id(match)))
    if result is None or not result["ok"]:
        raise ReferenceError(f"{ref}: that step has not produced an output")
    if match.group(3):
        return _follow(result["output"], match.group(3), ref)
    handles: dict[str, list[str]] = result["handles"]
    if kind:
        if not handles.get(kind):
            raise ReferenceError(f"{ref}: that step produced no {kind}")
        return handles[kind][0]
    first = next((h[0] for h in handles.values() if h), None)
    return first if first is not None else result["output"]


def resolve_references(value: Any, kind: str | None, results: dict[str, Any]) -> Any:
    """Replace ``<step-k>`` references (whole values, or inside text) by the steps' outputs."""
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value.strip())
        if whole:
            return _resolve_one(whole, kind, results)
        return REFERENCE.sub(lambda m: str(_resolve_one(m, None, results)), value)
    if isinstance(value, list):
        return [resolve_references(v, kind, results) for v in value]
    if isinstance(value, dict):
        return {k: resolve_references(v, kind, results) for k, v in value.items()}
    return value


def _map_calls(
    step: dict[str, Any], fields: dict[str, Any], results: dict[str, Any], failed: dict[str, Any]
) -> list[PendingCall]:
    """The calls of a map step, one per item; a step that cannot expand is recorded in ``failed``."""
    kinds = {name: artifact_kind_of(info.rebuild_annotation()) for name, info in fields.items()}

    def all_of(value: str, kind: str) -> list[str] | None:
        whole = REFERENCE.fullmatch(value.strip())
        if whole is None or whole.group(3):
            return None
        result = results.get(str(reference_id(whole)))
        if result is None or not result["ok"]:
            raise ReferenceError(f"{whole.group(0)}: that step has not produced an output")
        return list(result["handles"].get(kind, []))

    try:
        items = expand(step, kinds, lambda value, kind: resolve_references(value, kind, results), all_of)
    except (ReferenceError, MapError) as err:
        failed[str(step["id"])] = {"ok": False, "handles": {}, "output": None, "error": str(err)}
        return []
    if not items:
        failed[str(step["id"])] = empty_result()
    return [
        {
            "tool": step["tool"],
            "arguments": arguments,
            "thought": f"plan step {step['id']}, map item {index} (of {len(items)}, from 0)",
            "plan_step": step["id"],
            "map_index": index,
        }
        for index, arguments in enumerate(items)
    ]


def plan_wave(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """The plan's next wave as pending calls; steps whose references fail are recorded as failed."""
    stop = runtime.context.stop_reason()
    if stop:
        return {"pending": [], "status": "cancelled", "failure": stop}
    results = state.get("plan_results", {})
    done_ok = {int(k) for k, r in results.items() if r["ok"]}
    wave = [
        step
        for step in state.get("plan") or []
        if str(step["id"]) not in results and set(step["dependencies"]) <= done_ok
    ]
    pending: list[PendingCall] = []
    failed: dict[str, Any] = {}
    for step in wave:
        expert = runtime.context.catalogue.get(step["tool"])
        fields = expert.expert_cls.Input.model_fields if expert else {}
        if step.get("map"):  # one call per item: orchestrator/agent/plan_map.py
            pending += _map_calls(step, fields, results, failed)
            continue
        try:
            arguments = {
                name: resolve_references(
                    value,
                    artifact_kind_of(fields[name].rebuild_annotation()) if name in fields else None,
                    results,
                )
                for name, value in step["arguments"].items()
            }
        except ReferenceError as err:
            failed[str(step["id"])] = {"ok": False, "handles": {}, "output": None, "error": str(err)}
            continue
        pending.append(
            {
                "tool": step["tool"],
                "arguments": arguments,
                "thought": f"plan step {step['id']}",
                "plan_step": step["id"],
            }
        )
    return {"pending": pending, "plan_results": failed}
