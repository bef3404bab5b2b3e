"""plan_wave: pick the next wave of a plan, resolve its step references, and hand it to act."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from orchestrator.agent.context import RunContext
from orchestrator.agent.plan_kinds import ANY, Kind
from orchestrator.agent.plan_map import MapError, empty_result, expand
from orchestrator.agent.plan_refs import REFERENCE, Resolver, UnresolvedReference, reference_id
from orchestrator.agent.plan_validate import input_wants, output_kind
from orchestrator.agent.state import AgentState, PendingCall

__all__ = ["plan_wave"]


def _resolver(state: AgentState, ctx: RunContext, results: dict[str, Any]) -> Resolver:
    tools = {step["id"]: step["tool"] for step in state.get("plan") or []}
    table = state.get("artifacts", {})

    def output_of(step_id: int) -> Kind:
        expert = ctx.catalogue.get(tools.get(step_id, ""))
        return output_kind(expert.expert_cls.Output) if expert is not None else ANY

    def load(handle: str) -> Any:
        record = table.get(handle)
        if record is None:
            raise UnresolvedReference(f"there is no artifact '{handle}' in this session")
        try:
            return ctx.store.load(record)
        except Exception as err:  # bytes missing from the store
            raise UnresolvedReference(f"{handle} cannot be read: {err}") from None

    return Resolver(results, output_of, load)


def _map_calls(
    step: dict[str, Any],
    wants: dict[str, Kind],
    resolver: Resolver,
    results: dict[str, Any],
    failed: dict[str, Any],
) -> list[PendingCall]:
    """The calls of a map step, one per item; a step that cannot expand is recorded in ``failed``."""
    kinds = {name: want.name if want.artifact else None for name, want in wants.items()}

    def resolve(value: Any, name: str | None) -> Any:
        return resolver.resolve(value, wants.get(name, ANY) if name else ANY)

    def all_of(value: str, kind: str) -> list[str] | None:
        whole = REFERENCE.fullmatch(value.strip())
        if whole is None or whole.group(3):
            return None
        result = results.get(str(reference_id(whole)))
        if result is None or not result["ok"]:
            raise UnresolvedReference(f"{whole.group(0)}: that step has not produced an output")
        accepted = next((w.accepted for w in wants.values() if w.artifact and w.name == kind), (kind,))
        found = next((name for name in accepted if result["handles"].get(name)), kind)
        return list(result["handles"].get(found, []))

    try:
        items = expand(step, kinds, resolve, all_of)
    except (UnresolvedReference, MapError) as err:
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
    ctx = runtime.context
    stop = ctx.stop_reason()
    if stop:
        return {"pending": [], "status": "cancelled", "failure": stop}
    results = state.get("plan_results", {})
    done_ok = {int(k) for k, r in results.items() if r["ok"]}
    wave = [
        step
        for step in state.get("plan") or []
        if str(step["id"]) not in results and set(step["dependencies"]) <= done_ok
    ]
    resolver = _resolver(state, ctx, results)
    pending: list[PendingCall] = []
    failed: dict[str, Any] = {}
    for step in wave:
        expert = ctx.catalogue.get(step["tool"])
        wants = input_wants(expert.expert_cls.Input) if expert is not None else {}
        if step.get("map"):  # one call per item: orchestrator/agent/plan_map.py
            pending += _map_calls(step, wants, resolver, results, failed)
            continue
        try:
            arguments = {
                name: resolver.resolve(value, wants.get(name, ANY))
                for name, value in step["arguments"].items()
            }
        except UnresolvedReference as err:
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
