"""Plan mode (HuggingGPT-style): a whole plan of tool steps, normalised, validated and repaired.

A plan is a list of steps ``{"id", "tool", "arguments", "dependencies"}``; an argument may
reference an earlier step's output as ``<step-k>``, HuggingGPT's ``<GENERATED>-k`` or
TaskBench's ``<node-k>`` (optionally followed by a field path, ``<step-2>.lines``). Real plans
written by LLMs are messy: Python-style quotes, a single step instead of a list, dependencies
given as ``-1`` or a string, references whose step is missing from the dependencies. What can
be repaired is repaired and reported; the rest is returned as problems for one corrective
observation.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from experts.base import HANDLE_PATTERN, artifact_kind_of
from experts.protocol import format_validation_error
from orchestrator.agent.plan_map import map_problems, probe_arguments, read_map
from orchestrator.serving.catalogue import ExpertCatalogue

__all__ = ["REFERENCE", "Plan", "PlanError", "PlanStep", "parse_plan", "validate_plan", "waves"]

REFERENCE = re.compile(
    r"(?:<\s*(?:step|node)\s*-\s*(\d+)\s*>|<GENERATED>\s*-\s*(\d+))((?:\.[A-Za-z_]\w*|\[\d+\])*)", re.I
)
_TOOL_KEYS = ("tool", "task", "name", "expert", "action")
_ARGUMENT_KEYS = ("arguments", "args", "input", "inputs", "parameters", "action_input")
_DEPENDENCY_KEYS = ("dependencies", "dep", "deps", "depends_on", "requires")


def reference_id(match: re.Match[str]) -> int:
    """The step id of a :data:`REFERENCE` match."""
    return int(match.group(1) or match.group(2))


def strings_in(value: Any) -> Iterator[str]:
    """Every string value inside ``value``, walking nested dicts and lists (keys are not values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings_in(item)


def _references_in(value: Any) -> set[int]:
    return {reference_id(m) for text in strings_in(value) for m in REFERENCE.finditer(text)}


class PlanError(ValueError):
    """A plan that cannot be run; ``problems`` lists each defect for the controller."""

    def __init__(self, problems: list[str], repairs: list[str] | None = None) -> None:
        self.problems = problems
        self.repairs = repairs or []
        super().__init__("the plan cannot run: " + "; ".join(problems))


@dataclass
class PlanStep:
    """One step: ``id`` is an int, ``dependencies`` the ids whose outputs it needs."""

    id: int
    tool: str
    arguments: dict[str, Any]
    dependencies: list[int] = field(default_factory=list)
    map: list[str] | None = None
    """The arguments this step maps over, one call per item (:mod:`orchestrator.agent.plan_map`)."""

    def references(self) -> set[int]:
        """The step ids its arguments reference."""
        return _references_in(self.arguments)


@dataclass
class Plan:
    """A validated plan in a runnable order, with what was repaired on the way."""

    steps: list[PlanStep]
    repairs: list[str] = field(default_factory=list)

    def step(self, step_id: int) -> PlanStep:
        return next(s for s in self.steps if s.id == step_id)

    def to_json(self) -> list[dict[str, Any]]:
        return [vars(s).copy() for s in self.steps]


def _loads(text: str, repairs: list[str]) -> Any:
    text = text.strip()
    fenced = re.search(r"```(?:json|python)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1).strip()
        repairs.append("read the plan from a code fence")
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    if start < 0:
        raise PlanError(["no JSON list of steps was found"])
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
        return value
    except json.JSONDecodeError:
        pass
    depth, end = 0, None
    for i, ch in enumerate(text[start:], start):
        depth += ch in "[{"
        depth -= ch in "]}"
        if depth == 0:
            end = i + 1
            break
    try:
        value = ast.literal_eval(text[start:end])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise PlanError(["the plan is not valid JSON (nor a Python literal)"]) from None
    repairs.append("read Python-style quotes/literals as JSON")
    return value


def _as_step_list(value: Any, repairs: list[str]) -> list[Any]:
    if isinstance(value, dict):
        for key in ("plan", "steps", "nodes", "tasks"):
            if isinstance(value.get(key), list):
                repairs.append(f"took the steps from the '{key}' key")
                return value[key]
        repairs.append("a single step was given instead of a list")
        return [value]
    if isinstance(value, list):
        return value
    raise PlanError([f"a plan must be a list of steps, got {type(value).__name__}"])


def _first(mapping: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((mapping[k] for k in keys if k in mapping), None)


def _ids(value: Any) -> list[int]:
    """Step ids from ``3``, ``"3"``, ``"node-3"``, ``[1, "<step-2>"]``; ``-1`` means none (HuggingGPT)."""
    if value is None:
        return []
    if isinstance(value, (int, str)):
        value = [value]
    ids = []
    for item in value:
        text = str(item).strip()
        if re.fullmatch(r"-\d+", text):
            continue
        match = re.search(r"\d+", text)
        if match:
            ids.append(int(match.group()))
    return ids


def parse_plan(raw: str | list | dict) -> tuple[list[PlanStep], list[str]]:
    """Normalise a plan written by an LLM (or given by a user) into steps; no validation yet."""
    repairs: list[str] = []
    value = _loads(raw, repairs) if isinstance(raw, str) else raw
    items = _as_step_list(value, repairs)
    steps, problems = [], []
    for position, item in enumerate(items):
        if isinstance(item, str):
            item = _loads(item, repairs)
            repairs.append(f"step {position} was a string; read it as an object")
        if not isinstance(item, dict):
            problems.append(f"step {position} is a {type(item).__name__}, not an object")
            continue
        tool = _first(item, _TOOL_KEYS)
        arguments = _first(item, _ARGUMENT_KEYS)
        if isinstance(arguments, str):
            try:
                arguments = _loads(arguments, repairs)
            except PlanError:
                arguments = None
        if isinstance(arguments, list) and all(isinstance(a, dict) and "name" in a for a in arguments):
            arguments = {a["name"]: a.get("value") for a in arguments}  # TaskBench's [{name, value}]
            repairs.append(f"step {position}: arguments given as a name/value list")
        if not isinstance(tool, str) or not tool.strip():
            problems.append(f"step {position} names no tool")
            continue
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            problems.append(f"step {position} ({tool}): arguments must be an object")
            continue
        raw_id = item.get("id", position)
        step_id = _ids(raw_id)
        mapped, map_errors = read_map(item, f"step {position} ({tool})")
        problems += map_errors
        steps.append(
            PlanStep(
                step_id[0] if step_id else position,
                tool.strip(),
                arguments,
                _ids(_first(item, _DEPENDENCY_KEYS)),
                mapped,
            )
        )
    if problems:
        raise PlanError(problems, repairs)
    if not steps:
        raise PlanError(["the plan has no steps"], repairs)
    return steps, repairs


def _placeholder(kind: str | None, value: str) -> str:
    return f"{kind}-1" if kind else value


def _reference_kinds(catalogue: ExpertCatalogue, step: PlanStep) -> dict[str, str | None]:
    """For each top-level argument, the artifact kind its type wants (image, mask) or None."""
    expert = catalogue.get(step.tool)
    if expert is None:
        return {}
    fields = expert.expert_cls.Input.model_fields
    return {name: artifact_kind_of(info.rebuild_annotation()) for name, info in fields.items()}


def _substitute(value: Any, kind: str | None) -> Any:
    """Replace references by placeholders of the right kind, so schema validation can run."""
    if isinstance(value, str):
        if REFERENCE.fullmatch(value.strip()):
            return _placeholder(kind, value)
        return value
    if isinstance(value, list):
        return [_substitute(v, kind) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, kind) for k, v in value.items()}
    return value


def validate_plan(
    raw: str | list | dict, catalogue: ExpertCatalogue, handles: set[str] | None = None
) -> Plan:
    """Normalise, check and repair a plan; raise :class:`PlanError` listing what cannot be repaired."""
    steps, repairs = parse_plan(raw)
    problems: list[str] = []
    seen: set[int] = set()
    for step in steps:
        if step.id in seen:
            problems.append(f"step id {step.id} is used twice")
        seen.add(step.id)
    for step in steps:
        label = f"step {step.id} ({step.tool})"
        if step.tool not in catalogue:
            problems.append(
                f"{label}: there is no expert '{step.tool}'; available: {', '.join(catalogue.names())}"
            )
        refs = step.references()
        if step.id in refs or step.id in step.dependencies:
            problems.append(f"{label} refers to its own output")
        for ref in sorted(refs - {step.id}):
            if ref not in seen:
                problems.append(f"{label} refers to step {ref}, which is not in the plan")
            elif ref not in step.dependencies:
                step.dependencies.append(ref)
                repairs.append(
                    f"{label}: added step {ref} to its dependencies (its arguments use <step-{ref}>)"
                )
        dangling = [d for d in step.dependencies if d not in seen]
        for dep in dangling:
            step.dependencies.remove(dep)
            repairs.append(f"{label}: dropped dependency on step {dep}, which is not in the plan")
        if handles is not None:
            for value in dict.fromkeys(strings_in(step.arguments)):
                if HANDLE_PATTERN.fullmatch(value) and value not in handles:
                    known = ", ".join(sorted(handles)) or "none"
                    problems.append(f"{label}: there is no artifact '{value}'; known: {known}")
        expert = catalogue.get(step.tool)
        if expert is not None:
            kinds = _reference_kinds(catalogue, step)
            fields = expert.expert_cls.Input.model_fields
            problems += map_problems(
                label, step.arguments, step.map, fields, lambda v: bool(REFERENCE.fullmatch(v.strip()))
            )
            arguments = probe_arguments(step.arguments, step.map)  # a map step: one call's arguments
            probe = {k: _substitute(v, kinds.get(k)) for k, v in arguments.items()}
            # A reference to another step's output field (<step-2>.boxes) is only known at run time.
            deferred = {k for k, v in arguments.items() if _references_in(v) and not kinds.get(k)}
            try:
                expert.expert_cls.Input.model_validate(probe)
            except ValidationError as err:
                errors = [e for e in err.errors() if not (e.get("loc") and e["loc"][0] in deferred)]
                if errors:
                    problems.append(f"{label}: " + format_validation_error(step.tool, err, errors))
    if problems:
        raise PlanError(problems, repairs)
    ordered, cycle = _topological(steps)
    if cycle:
        raise PlanError([f"steps {', '.join(map(str, cycle))} depend on each other in a cycle"], repairs)
    if [s.id for s in ordered] != [s.id for s in steps]:
        repairs.append("reordered the steps so each comes after the steps it depends on")
    return Plan(ordered, repairs)


def _topological(steps: list[PlanStep]) -> tuple[list[PlanStep], list[int]]:
    by_id = {s.id: s for s in steps}
    done: list[PlanStep] = []
    placed: set[int] = set()
    remaining = list(steps)
    while remaining:
        ready = [s for s in remaining if set(s.dependencies) <= placed]
        if not ready:
            return done, sorted(s.id for s in remaining if s.id in by_id)
        for step in ready:
            done.append(step)
            placed.add(step.id)
        remaining = [s for s in remaining if s.id not in placed]
    return done, []


def waves(plan: Plan, finished: set[int] | None = None) -> list[list[PlanStep]]:
    """The plan's steps grouped into waves: each wave depends only on earlier waves."""
    placed = set(finished or ())
    remaining = [s for s in plan.steps if s.id not in placed]
    grouped = []
    while remaining:
        ready = [s for s in remaining if set(s.dependencies) <= placed]
        if not ready:
            break
        grouped.append(ready)
        placed |= {s.id for s in ready}
        remaining = [s for s in remaining if s.id not in placed]
    return grouped
