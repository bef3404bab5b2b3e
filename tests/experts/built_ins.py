"""The built-in experts and their default model ids, found from the code (for the contract tests)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

from pydantic import BaseModel, ValidationError

import experts
from experts.base import Expert

__all__ = ["HUB_ID", "built_in_experts", "default_model_ids", "model_options"]

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
"""What a model id looks like as a setting's default (``org/name``)."""


def built_in_experts() -> dict[str, type[Expert]]:
    """Every expert class defined in a module of the ``experts`` package, by name."""
    found: dict[str, type[Expert]] = {}
    for module_info in pkgutil.iter_modules(experts.__path__):
        module = importlib.import_module(f"experts.{module_info.name}")
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, Expert) and obj is not Expert:
                found[obj.name] = obj
    return found


def model_options(settings: BaseModel) -> dict[str, str]:
    """The settings that name a model, as ``{option path: model id}`` (``controlnets.canny``: ...)."""
    found = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for key, item in items:
            if isinstance(item, str) and HUB_ID.match(item):
                found[name if key is None else f"{name}.{key}"] = item
    return found


def default_model_ids(expert_cls: type[Expert]) -> dict[str, str]:
    """The expert's default model ids by option (empty for weight-free experts)."""
    try:
        return model_options(expert_cls.Settings())
    except ValidationError:
        return {}
