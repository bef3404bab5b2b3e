"""Find expert classes by name: a class path, an installed entry point, or a built-in ``experts/<name>.py``.

Experts are registered in the entry point group ``mm_reactor.experts`` (the built-ins too, each
as its module); a name no entry point registers is looked up as the built-in module
``experts.<name>``, so a source checkout that is not installed still finds its own experts.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any

from experts.base import Expert
from extensions import EXPERTS, ExtensionNotFound, load_named, load_path, registered

__all__ = ["ExpertNotFound", "load_expert_class"]


class ExpertNotFound(ExtensionNotFound):
    """No expert class could be found for a configured name."""


def load_expert_class(name: str, class_path: str | None = None) -> type[Expert]:
    """The expert class for ``name``.

    With ``class_path`` (``"package.module:ClassName"``) that class is imported. Otherwise the entry
    point ``name`` of ``mm_reactor.experts`` (a class, or a module defining exactly one expert
    named ``name``), else the built-in module ``experts.<name>``.
    """
    if class_path:
        try:
            found: Any = load_path(class_path, what=f"expert '{name}'")
        except ExtensionNotFound as err:
            raise ExpertNotFound(str(err)) from err.__cause__
        return _expert_in(found, name, class_path)
    if not name.isidentifier():
        raise ExpertNotFound(f"'{name}' is not a valid expert name")
    try:
        entry_points = registered(EXPERTS)
    except ExtensionNotFound as err:
        raise ExpertNotFound(str(err)) from None
    if name in entry_points:
        try:
            found = load_named(EXPERTS, name)
        except ExtensionNotFound as err:
            raise ExpertNotFound(str(err)) from err.__cause__
        return _expert_in(found, name, entry_points[name].value)
    try:
        module = importlib.import_module(f"experts.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"experts.{name}":
            raise
        known = ", ".join(sorted(entry_points)) or "none: is mm-reactor installed (pip install -e .)?"
        raise ExpertNotFound(
            f"no built-in expert named '{name}', and no installed package registers one (entry point "
            f"group {EXPERTS}; registered: {known}); give its class in the config "
            "(class: 'package.module:Class')"
        ) from None
    return _expert_in(module, name, module.__name__)


def _expert_in(found: Any, name: str, source: str) -> type[Expert]:
    """``found`` itself when it is the expert class, or the one expert named ``name`` in a module."""
    if isinstance(found, ModuleType):
        candidates = [
            obj
            for obj in vars(found).values()
            if inspect.isclass(obj)
            and issubclass(obj, Expert)
            and obj.__module__ == found.__name__
            and getattr(obj, "name", None) == name
        ]
        if len(candidates) != 1:
            raise ExpertNotFound(
                f"module {found.__name__} must define exactly one expert named '{name}', "
                f"found {len(candidates)}"
            )
        return candidates[0]
    if not (inspect.isclass(found) and issubclass(found, Expert)):
        raise ExpertNotFound(f"expert '{name}': '{source}' is not an Expert subclass")
    if found.name != name:
        raise ExpertNotFound(
            f"expert '{name}': class '{source}' declares name '{found.name}'; use the same name in the config"
        )
    return found
