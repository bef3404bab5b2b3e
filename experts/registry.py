"""Find expert classes by name: built-ins live in ``experts/<name>.py``; others by class path."""

from __future__ import annotations

import importlib
import inspect

from experts.base import Expert

__all__ = ["ExpertNotFound", "load_expert_class"]


class ExpertNotFound(LookupError):
    """No expert class could be found for a configured name."""


def load_expert_class(name: str, class_path: str | None = None) -> type[Expert]:
    """The expert class for ``name``.

    With ``class_path`` (``"package.module:ClassName"``) that class is imported; otherwise
    the built-in module ``experts.<name>`` must define exactly one expert named ``name``.
    """
    if class_path:
        module_name, _, attr = class_path.partition(":")
        if not module_name or not attr:
            raise ExpertNotFound(
                f"expert '{name}': class '{class_path}' must look like 'package.module:ClassName'"
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ExpertNotFound(
                f"expert '{name}': cannot import module '{module_name}' ({err}); "
                "is the package installed on this machine and on every Ray node?"
            ) from err
        cls = getattr(module, attr, None)
        if not (inspect.isclass(cls) and issubclass(cls, Expert)):
            raise ExpertNotFound(f"expert '{name}': '{class_path}' is not an Expert subclass")
        if cls.name != name:
            raise ExpertNotFound(
                f"expert '{name}': class '{class_path}' declares name '{cls.name}'; "
                "use the same name in the config"
            )
        return cls
    if not name.isidentifier():
        raise ExpertNotFound(f"'{name}' is not a valid expert name")
    try:
        module = importlib.import_module(f"experts.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"experts.{name}":
            raise
        raise ExpertNotFound(
            f"no built-in expert named '{name}'; give its class in the config (class: 'package.module:Class')"
        ) from None
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Expert)
        and obj.__module__ == module.__name__
        and getattr(obj, "name", None) == name
    ]
    if len(found) != 1:
        raise ExpertNotFound(
            f"module experts.{name} must define exactly one expert named '{name}', found {len(found)}"
        )
    return found[0]
