"""Checking a plan before anything runs: tools, references, handles, kinds and each step's schema.

Every defect that cannot be repaired becomes one line of a :class:`PlanError`: an unknown expert, a
reference to a step that is not in the plan (or to itself), a near-miss spelling of a reference, an
unknown handle, an argument whose referenced output has the wrong kind ("'image' wants an image, but
<step-0> (detect) gives boxes"), arguments that fail the expert's schema, and dependency cycles.
Repairs (dependencies added for references, steps reordered) are listed in :attr:`Plan.repairs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from experts.base import HANDLE_PATTERN
from experts.protocol import format_validation_error
from orchestrator.agent.plan_kinds import (
    ANY,
    Kind,
    KindError,
    bare_offer,
    describe,
    fits,
    follow,
    offer_of,
    offered,
    want_of,
)
from orchestrator.agent.plan_map import map_problems, probe_arguments
from orchestrator.agent.plan_parse import parse_plan
from orchestrator.agent.plan_refs import REFERENCE, near_misses, reference_id, reference_path, strings_in
from orchestrator.agent.plan_steps import Plan, PlanError, PlanStep
from orchestrator.serving.catalogue import ExpertCatalogue

__all__ = ["input_wants", "output_kind", "validate_plan", "waves"]

_OUTPUTS: dict[type[BaseModel], Kind] = {}
_INPUTS: dict[type[BaseModel], dict[str, Kind]] = {}


def output_kind(model: type[BaseModel]) -> Kind:
    """What an expert's Output model gives (cached per model)."""
    if model not in _OUTPUTS:
        _OUTPUTS[model] = offer_of(model)
    return _OUTPUTS[model]


def input_wants(model: type[BaseModel]) -> dict[str, Kind]:
    """What each field of an expert's Input model accepts (cached per model)."""
    if model not in _INPUTS:
        _INPUTS[model] = {
            name: want_of(info.rebuild_annotation()) for name, info in model.model_fields.items()
        }
    return _INPUTS[model]


def _placements(
    value: Any, want: Kind, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str, Kind]]:
    """(location, whole string, wanted kind) of each whole-string value that may stand for something else."""
    if isinstance(value, str):
        if REFERENCE.fullmatch(value.strip()) or HANDLE_PATTERN.fullmatch(value.strip()):
            yield loc, value.strip(), want
    elif isinstance(value, list):
        item = want.item if want.name == "list" and want.item is not None else ANY
        for i, v in enumerate(value):
            yield from _placements(v, item, (*loc, i))
    elif isinstance(value, dict):
        for key, v in value.items():
            field = want.field(key) if want.name == "record" else None
            yield from _placements(v, field or ANY, (*loc, key))


def _placeholder(want: Kind) -> Any:
    """A value of the wanted kind, standing in for a reference while the schema is checked."""
    if want.artifact:
        return f"{want.name}-1"
    if want.name == "list" and want.item is not None:
        inner = _placeholder(want.item)
        return None if inner is None else [inner]
    if want.name == "box":
        return [0, 0, 1, 1]
    if want.name == "text":
        return "text"
    return None


def _put(arguments: dict[str, Any], loc: tuple[str | int, ...], value: Any) -> None:
    target: Any = arguments
    for part in loc[:-1]:
        target = target[part]
    target[loc[-1]] = value


class _Checker:
    """The checks of one plan against the catalogue; collects problems and repairs."""

    def __init__(self, steps: list[PlanStep], catalogue: ExpertCatalogue, handles: set[str] | None) -> None:
        self.steps, self.catalogue, self.handles = steps, catalogue, handles
        self.by_id = {s.id: s for s in steps}
        self.problems: list[str] = []
        self.repairs: list[str] = []

    def references(self, step: PlanStep, label: str) -> None:
        refs = step.references()
        if step.id in refs or step.id in step.dependencies:
            self.problems.append(f"{label} refers to its own output")
        for ref in sorted(refs - {step.id}):
            if ref not in self.by_id:
                self.problems.append(f"{label} refers to step {ref}, which is not in the plan")
            elif ref not in step.dependencies:
                step.dependencies.append(ref)
                self.repairs.append(
                    f"{label}: added step {ref} to its dependencies (its arguments use <step-{ref}>)"
                )
        for dep in [d for d in step.dependencies if d not in self.by_id]:
            step.dependencies.remove(dep)
            self.repairs.append(f"{label}: dropped dependency on step {dep}, which is not in the plan")
        for where, text in strings_in(step.arguments):
            for miss in near_misses(text):
                self.problems.append(
                    f"{label}: '{miss[:40]}' in '{where[:60]}' is not a step reference; write '<step-k>' "
                    "(or '<GENERATED>-k'), where k is the id of an earlier step"
                )

    def artifacts(self, step: PlanStep, label: str) -> None:
        if self.handles is None:
            return
        for _, value in dict.fromkeys(strings_in(step.arguments)):
            if HANDLE_PATTERN.fullmatch(value) and value not in self.handles:
                known = ", ".join(sorted(self.handles)) or "none"
                self.problems.append(f"{label}: there is no artifact '{value}'; known: {known}")

    def _offer(self, text: str, want: Kind, label: str, where: str, *, mapped: bool = False) -> Kind | None:
        """The kind that ``text`` (a reference or a handle) will have, or None after a problem;
        ``mapped``: the kind of each item of the list it names (a map step's mapped argument)."""
        match = REFERENCE.fullmatch(text)
        if match is None:
            handle = HANDLE_PATTERN.fullmatch(text)
            kind = handle.group(1) if handle else None
            return Kind(kind, artifact=True) if kind == "boxes" and want.name == "list" else want
        target = self.by_id.get(reference_id(match))
        expert = self.catalogue.get(target.tool) if target is not None else None
        if target is None or expert is None:
            return ANY  # reported as a missing step or an unknown expert
        output = output_kind(expert.expert_cls.Output)
        path = reference_path(match)
        start = f"<step-{target.id}> ({target.tool})"
        if path:
            try:
                found = follow(output, path, start)
                return _item_of(found, want) if mapped else found
            except KindError as err:
                self.problems.append(f"{label}: '{where}' uses {match.group(0)}, but {err}")
                return None
        offer = bare_offer(output, want)
        if offer is None:
            self.problems.append(
                f"{label}: '{where}' wants {describe(want)}, but {start} gives {', '.join(offered(output))}; "
                f"name the output you mean, e.g. <step-{target.id}>.field"
            )
        return offer

    def kinds_and_schema(self, step: PlanStep, label: str) -> None:
        expert = self.catalogue.get(step.tool)
        if expert is None:
            return
        model = expert.expert_cls.Input
        wants = input_wants(model)
        self.problems += map_problems(
            label,
            step.arguments,
            step.map,
            model.model_fields,
            lambda v: bool(REFERENCE.fullmatch(v.strip())),
        )
        arguments = probe_arguments(step.arguments, step.map)  # a map step: one call's arguments
        probe = dict(arguments)
        deferred: list[tuple[str | int, ...]] = []
        for loc, text, want in _placements(arguments, _record(wants), ()):
            where = ".".join(str(part) for part in loc)
            mapped = step.map is not None and len(loc) == 1 and loc[0] in step.map
            offer = self._offer(text, want, label, where, mapped=mapped)
            if REFERENCE.fullmatch(text) is None and not (offer is not None and offer.name == "boxes"):
                continue  # a handle is checked by the expert's schema like any value
            deferred.append(loc)
            if offer is not None and not fits(offer, want):
                self.problems.append(
                    f"{label}: '{where}' wants {describe(want)}, but {text} is {describe(offer)}"
                )
            placeholder = _placeholder(want)
            if placeholder is not None:
                probe = _copy_path(probe, loc)
                _put(probe, loc, placeholder)
        try:
            model.model_validate(probe)
        except ValidationError as err:
            errors = [
                e for e in err.errors() if not any(tuple(e.get("loc", ()))[: len(d)] == d for d in deferred)
            ]
            if errors:
                self.problems.append(_cut(f"{label}: " + format_validation_error(step.tool, err, errors)))
        except (TypeError, ValueError) as err:  # a validator that raised outside pydantic's protocol
            self.problems.append(_cut(f"{label}: invalid arguments for {step.tool}: {err}"))


def _item_of(offer: Kind, want: Kind) -> Kind:
    """What one item of a mapped list gives: the list's item, or the artifact of the wanted kind in a
    record item (a frame's ``{"image": …, "time": …}``)."""
    if offer.name != "list" or offer.item is None:
        return offer
    item = offer.item
    if item.name == "record" and want.artifact:
        inner = next((kind for name, kind in item.fields if kind.artifact and name in want.accepted), None)
        return inner or item
    return item


def _cut(text: str, limit: int = 500) -> str:
    """A problem cut to ``limit`` characters (a schema error quotes the value, however long)."""
    return text if len(text) <= limit else text[: limit - 30] + " ... (cut)"


def _record(wants: dict[str, Kind]) -> Kind:
    return Kind("record", fields=tuple(wants.items()))


def _copy_path(value: Any, loc: tuple[str | int, ...]) -> Any:
    """A copy of ``value`` whose containers along ``loc`` are new (so the plan's own stay unchanged)."""
    if isinstance(value, dict):
        copied: dict[Any, Any] = dict(value)
        if len(loc) > 1:
            copied[loc[0]] = _copy_path(copied[loc[0]], loc[1:])
        return copied
    items = list(value)
    if len(loc) > 1 and isinstance(loc[0], int):
        items[loc[0]] = _copy_path(items[loc[0]], loc[1:])
    return items


def _order(steps: list[PlanStep]) -> tuple[list[PlanStep], list[int]]:
    """The steps in a runnable order, keeping the given order wherever it already works; else the
    ids left in a dependency cycle."""
    done: list[PlanStep] = []
    placed: set[int] = set()
    remaining = list(steps)
    while remaining:
        ready = next((s for s in remaining if set(s.dependencies) <= placed), None)
        if ready is None:
            return done, sorted(s.id for s in remaining)
        done.append(ready)
        placed.add(ready.id)
        remaining.remove(ready)
    return done, []


def validate_plan(raw: Any, catalogue: ExpertCatalogue, handles: set[str] | None = None) -> Plan:
    """Normalise, check and repair a plan; raise :class:`PlanError` listing what cannot be repaired.

    ``handles``: the artifacts the plan may name (None: do not check them).
    """
    steps, repairs = parse_plan(raw)
    checker = _Checker(steps, catalogue, handles)
    seen: set[int] = set()
    for step in steps:
        if step.id in seen:
            checker.problems.append(f"step id {step.id} is used twice")
        seen.add(step.id)
    for step in steps:
        label = f"step {step.id} ({step.tool})"
        if step.tool not in catalogue:
            checker.problems.append(
                f"{label}: there is no expert '{step.tool[:40]}'; available: {', '.join(catalogue.names())}"
            )
        checker.references(step, label)
        checker.artifacts(step, label)
        checker.kinds_and_schema(step, label)
    repairs += checker.repairs
    if checker.problems:
        raise PlanError(list(dict.fromkeys(checker.problems)), repairs)
    ordered, cycle = _order(steps)
    if cycle:
        raise PlanError([f"steps {', '.join(map(str, cycle))} depend on each other in a cycle"], repairs)
    if [s.id for s in ordered] != [s.id for s in steps]:
        repairs.append("reordered the steps so each comes after the steps it depends on")
    return Plan(ordered, repairs)


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
