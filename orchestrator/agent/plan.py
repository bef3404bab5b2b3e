"""Plan mode (HuggingGPT-style): a whole plan of tool steps, read, validated and repaired.

A plan is a list of steps ``{"id", "tool", "arguments", "dependencies"}``; an argument may refer to
an earlier step's output as ``<step-k>`` (HuggingGPT's ``<GENERATED>-k``, TaskBench's ``<node-k>``),
optionally with a path into it (``<step-2>.detections[0].box``). The work is split by job:

- :mod:`~orchestrator.agent.plan_parse`: text (or a caller's list) to steps, repairing what LLMs get
  wrong (quotes, fences, missing brackets, spellings of keys and dependencies);
- :mod:`~orchestrator.agent.plan_refs`: how references are written, found and resolved at run time;
- :mod:`~orchestrator.agent.plan_kinds`: the kinds arguments want and outputs give, from the experts'
  models;
- :mod:`~orchestrator.agent.plan_validate`: the checks, the runnable order and the waves.

Everything here raises only :class:`PlanError`, whose ``problems`` go back to the controller as one
corrective observation (or to the caller of ``run_plan`` as an ``InputError``).
"""

from __future__ import annotations

from orchestrator.agent.plan_parse import parse_plan
from orchestrator.agent.plan_refs import REFERENCE, reference_id, strings_in
from orchestrator.agent.plan_steps import Plan, PlanError, PlanStep
from orchestrator.agent.plan_validate import validate_plan, waves

__all__ = [
    "REFERENCE",
    "Plan",
    "PlanError",
    "PlanStep",
    "parse_plan",
    "reference_id",
    "strings_in",
    "validate_plan",
    "waves",
]
