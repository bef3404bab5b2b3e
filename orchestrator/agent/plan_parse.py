"""Reading a plan as LLMs really write it: text to steps, repairs noted, no validation yet.

The plan is decoded first, as a whole (JSON, or a Python literal); code fences are looked for only
when the text as a whole does not decode, so a fence inside a string argument never replaces the
plan. Steps written without their enclosing brackets (``{…}, {…}``) are all read. Step keys may be
spelled as HuggingGPT (``task``, ``args``, ``dep``) or TaskBench (``nodes``, ``[{"name", "value"}]``
arguments) write them. Everything becomes plain JSON (:mod:`orchestrator.agent.normalise`), and the
only error raised is :class:`~orchestrator.agent.plan_steps.PlanError`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.agent.loose_json import literal, scan_balanced
from orchestrator.agent.normalise import NotPlainJSON, plain_json
from orchestrator.agent.plan_map import read_map
from orchestrator.agent.plan_steps import PlanError, PlanStep

__all__ = ["decode_plan", "parse_plan"]

_TOOL_KEYS = ("tool", "task", "name", "expert", "action")
_ARGUMENT_KEYS = ("arguments", "args", "input", "inputs", "parameters", "action_input")
_DEPENDENCY_KEYS = ("dependencies", "dep", "deps", "depends_on", "requires")
_LIST_KEYS = ("plan", "steps", "nodes", "tasks")
_FENCE = re.compile(r"(?:^|\n)[ \t]*```[\w+.-]*[ \t]*\n(.*?)\n[ \t]*```", re.S)
_MAX_STARTS = 20
_MAX_ID = 999_999_999
_NOTHING = object()


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOTHING


def _whole(text: str, repairs: list[str]) -> Any:
    """``text`` decoded as a whole: JSON, steps without brackets, or a Python literal."""
    value = _json(text)
    if value is not _NOTHING:
        return value
    if text.startswith("{"):
        value = _json(f"[{text}]")
        if value is not _NOTHING:
            repairs.append("read steps written without the enclosing [ ] as a list")
            return value
    try:
        value = literal(text)
    except ValueError:
        return _NOTHING
    repairs.append("read Python-style quotes/literals as JSON")
    if isinstance(value, tuple):
        repairs.append("read steps written without the enclosing [ ] as a list")
        return list(value)
    return value


def _one(text: str, start: int, literals: bool) -> tuple[Any, int]:
    """The JSON (or, with ``literals``, Python-literal) value at ``text[start]``, and where it ends."""
    try:
        return json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):
        pass
    if not literals:
        return _NOTHING, start
    balanced, length, closed = scan_balanced(text[start:])
    if not closed:
        return _NOTHING, -1  # nothing from here on closes: no later start needs a scan either
    try:
        return literal(balanced), start + length
    except ValueError:
        return _NOTHING, start


def _at(text: str, start: int, literals: bool, repairs: list[str]) -> tuple[Any, int]:
    """The value starting at ``text[start]`` and where it ends; objects following it after commas
    are read too (steps written without their enclosing brackets)."""
    value, end = _one(text, start, literals)
    if not isinstance(value, dict):
        return value, end
    steps = [value]
    while True:
        comma = re.match(r"\s*,\s*(?=\{)", text[end:])
        if comma is None:
            break
        following, after = _one(text, end + comma.end(), literals)
        if not isinstance(following, dict):
            break
        steps.append(following)
        end = after
    if len(steps) == 1:
        return value, end
    repairs.append("read steps written without the enclosing [ ] as a list")
    return steps, end


def _looks_like_steps(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, (dict, str)) for v in value)
    )


def decode_plan(text: str, repairs: list[str]) -> Any:
    """The plan in ``text`` as plain JSON: decoded as a whole, else from a code fence, else from the
    first bracket where a list or object of steps decodes. Raises PlanError when there is none."""
    try:
        return plain_json(_decode(text, repairs))
    except NotPlainJSON as err:
        raise PlanError([f"the plan cannot be used: {err}"], repairs) from None


def _decode(text: str, repairs: list[str]) -> Any:
    text = text.strip()
    if not text:
        raise PlanError(["the plan is empty; give a JSON list of steps"])
    value = _whole(text, repairs)
    if value is not _NOTHING:
        return value
    for fence in _FENCE.finditer(text):
        value = _whole(fence.group(1).strip(), repairs)
        if value is not _NOTHING:
            repairs.append("read the plan from a code fence")
            return value
    starts = [m.start() for m in re.finditer(r"[\[{]", text)][:_MAX_STARTS]
    literals = True
    for start in starts:
        value, end = _at(text, start, literals, repairs)
        literals = literals and end >= 0
        if _looks_like_steps(value):
            repairs.append("ignored the text around the plan")
            return value
    if not starts:
        raise PlanError(["no JSON list of steps was found"])
    raise PlanError(["the plan is not valid JSON (nor a Python literal)"])


def _as_step_list(value: Any, repairs: list[str]) -> list[Any]:
    if isinstance(value, dict):
        for key in _LIST_KEYS:
            if isinstance(value.get(key), list):
                repairs.append(f"took the steps from the '{key}' key")
                return list(value[key])
        repairs.append("a single step was given instead of a list")
        return [value]
    if isinstance(value, list):
        return value
    raise PlanError([f"a plan must be a list of steps, got {type(value).__name__}"])


def _first(mapping: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((mapping[k] for k in keys if k in mapping), None)


def _number(value: Any) -> int | None:
    """A step number from ``3``, ``3.0``, ``"3"``, ``"node-3"``, ``"<step-3>"``; None when it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if 0 <= value <= _MAX_ID else None
    if isinstance(value, str):
        digits = re.findall(r"\d+", value)
        if len(digits) == 1 and len(digits[0]) <= 9:
            return int(digits[0])
    return None


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:40] + "..."


def _dependencies(value: Any, label: str, problems: list[str]) -> list[int]:
    """Step ids from ``3``, ``"3"``, ``"0,1"``, ``"node-3"``, ``[1, "<step-2>"]``; ``-1`` means none."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    ids: list[int] = []
    for item in items:
        tokens = [t for t in re.split(r"[,;\s]+", item) if t] if isinstance(item, str) else [item]
        for token in tokens:
            if isinstance(token, (int, float)) and not isinstance(token, bool) and token < 0:
                continue
            if isinstance(token, str) and re.fullmatch(r"-\d+", token):
                continue
            number = _number(token)
            if number is None:
                problems.append(f"{label}: dependency {_shown(token)} is not a step number")
            elif number not in ids:
                ids.append(number)
    return ids


def _name_values(arguments: list[Any], label: str, repairs: list[str], problems: list[str]) -> dict[str, Any]:
    """TaskBench's ``[{"name", "value"}]`` arguments; a repeated name keeps all its values, as a list."""
    merged: dict[str, Any] = {}
    repeated: list[str] = []
    for entry in arguments:
        name = entry["name"]
        if not isinstance(name, str):
            problems.append(f"{label}: argument name {_shown(name)} is not a string")
            continue
        if name in merged:
            if name not in repeated:
                merged[name] = [merged[name]]
                repeated.append(name)
            merged[name].append(entry.get("value"))
        else:
            merged[name] = entry.get("value")
    note = f"{label}: arguments given as a name/value list"
    if repeated:
        note += f" (repeated names kept as lists: {', '.join(repeated)})"
    repairs.append(note)
    return merged


def _arguments(
    item: dict[str, Any], label: str, repairs: list[str], problems: list[str]
) -> dict[str, Any] | None:
    arguments = _first(item, _ARGUMENT_KEYS)
    if isinstance(arguments, str):
        try:
            arguments = decode_plan(arguments, repairs)
        except PlanError:
            arguments = None
    if isinstance(arguments, list) and all(isinstance(a, dict) and "name" in a for a in arguments):
        arguments = _name_values(arguments, label, repairs, problems)
    if arguments is None:
        return {}
    if not isinstance(arguments, dict):
        problems.append(
            f"{label}: arguments must be an object of named arguments, not {type(arguments).__name__}"
        )
        return None
    return arguments


def _step(item: Any, position: int, repairs: list[str], problems: list[str]) -> PlanStep | None:
    if isinstance(item, str):
        try:
            item = decode_plan(item, repairs)
        except PlanError:
            problems.append(f"step {position} is a text that holds no step object")
            return None
        repairs.append(f"step {position} was a string; read it as an object")
    if not isinstance(item, dict):
        problems.append(f"step {position} is a {type(item).__name__}, not an object")
        return None
    tool = _first(item, _TOOL_KEYS)
    if not isinstance(tool, str) or not tool.strip():
        problems.append(f"step {position} names no tool")
        return None
    label = f"step {position} ({tool.strip()[:40]})"
    step_id = position if item.get("id") is None else _number(item["id"])
    if step_id is None:
        problems.append(f"{label}: id {_shown(item['id'])} is not a step number (0 to {_MAX_ID})")
        return None
    arguments = _arguments(item, label, repairs, problems)
    dependencies = _dependencies(_first(item, _DEPENDENCY_KEYS), label, problems)
    mapped, map_problems = read_map(item, label)
    problems += map_problems
    if arguments is None:
        return None
    return PlanStep(step_id, tool.strip(), arguments, dependencies, mapped)


def parse_plan(raw: Any) -> tuple[list[PlanStep], list[str]]:
    """Normalise a plan written by an LLM (text) or given by a caller (a list or dict) into steps."""
    repairs: list[str] = []
    value = decode_plan(raw, repairs) if isinstance(raw, str) else raw
    try:
        value = plain_json(value)
    except NotPlainJSON as err:
        raise PlanError([f"the plan cannot be used: {err}"], repairs) from None
    items = _as_step_list(value, repairs)
    steps: list[PlanStep] = []
    problems: list[str] = []
    for position, item in enumerate(items):
        step = _step(item, position, repairs, problems)
        if step is not None:
            steps.append(step)
    if problems:
        raise PlanError(problems, repairs)
    if not steps:
        raise PlanError(["the plan has no steps"], repairs)
    return steps, list(dict.fromkeys(repairs))
