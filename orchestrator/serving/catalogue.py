"""The registry of deployed experts, and the expert catalogue the controller reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonref
from ray.serve.handle import DeploymentHandle

from experts.base import Expert

__all__ = ["DeployedExpert", "ExpertCatalogue"]


@dataclass
class DeployedExpert:
    """An expert running as a Serve deployment, how to call it, and the settings it was deployed with."""

    name: str
    expert_cls: type[Expert]
    handle: DeploymentHandle
    app_name: str
    timeout_s: float
    settings: dict[str, Any] = field(default_factory=dict)
    """The config's ``options:`` for it; what the controller reads is rendered from them."""

    @property
    def description(self) -> str:
        """The expert's description with its ``$setting`` names filled from the deployed settings."""
        return self.expert_cls.describe(self.settings)

    def argument_schema(self) -> dict[str, Any]:
        """The argument schema, field descriptions filled from the deployed settings."""
        return self.expert_cls.argument_schema(self.settings)

    @property
    def answers_tasks(self) -> bool:
        """The expert can answer a user's whole task end to end (a capability its class declares)."""
        return self.expert_cls.answers_tasks

    def is_task_call(self, arguments: Any) -> bool:
        """Whether a call with ``arguments`` hands this expert the user's whole task."""
        return self.answers_tasks and isinstance(arguments, dict) and self.expert_cls.is_task_call(arguments)

    def describe(self) -> str:
        """The catalogue entry: name, description and a compact argument schema."""
        return f"- {self.name}: {self.description}\n  Arguments: {_compact_schema(self.argument_schema())}"


def _compact_schema(argument_schema: dict[str, Any]) -> str:
    # Local $refs inlined by jsonref (never fetched from elsewhere); a recursive one stays a lazy proxy.
    schema = jsonref.replace_refs(argument_schema, merge_props=True, lazy_load=False, loader=_local_refs_only)
    required = set(schema.get("required", []))
    fields = {}
    for name, prop in schema.get("properties", {}).items():
        fields[name] = _compact_property(prop) | ({} if name in required else {"optional": True})
    return json.dumps(fields, ensure_ascii=False)


def _local_refs_only(uri: str) -> Any:
    raise ValueError(f"schema reference {uri} is not local to the schema")


def _compact_property(prop: Any) -> dict[str, Any]:
    keep = ("type", "description", "enum", "default", "minimum", "maximum", "items", "minItems", "maxItems")
    out = {k: prop[k] for k in keep if k in prop}
    if "anyOf" in prop:
        out["type"] = " | ".join(str(option.get("type", "object")) for option in prop["anyOf"])
    if isinstance(out.get("items"), Mapping):
        out["items"] = _compact_property(out["items"])
    return out


class ExpertCatalogue:
    """Deployed experts by name; the source of the prompt's expert list."""

    def __init__(self) -> None:
        self._experts: dict[str, DeployedExpert] = {}

    def add(self, expert: DeployedExpert) -> None:
        self._experts[expert.name] = expert

    def remove(self, name: str) -> DeployedExpert | None:
        return self._experts.pop(name, None)

    def get(self, name: str) -> DeployedExpert | None:
        return self._experts.get(name)

    def names(self) -> list[str]:
        return sorted(self._experts)

    def task_answerers(self) -> list[str]:
        """Names of the deployed experts that can answer a user's whole task end to end."""
        return [name for name in self.names() if self._experts[name].answers_tasks]

    def __contains__(self, name: object) -> bool:
        return name in self._experts

    def __len__(self) -> int:
        return len(self._experts)

    def render(self) -> str:
        """The catalogue text for the system prompt, generated from the deployed experts."""
        if not self._experts:
            return "(no experts are deployed)"
        return "\n".join(self._experts[name].describe() for name in self.names())
