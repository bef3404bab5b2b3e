"""Find an extension by its registered name (an installed entry point) or by a ``module:Name`` path."""

from __future__ import annotations

import importlib
import inspect
import re
from importlib import metadata
from typing import Any

__all__ = [
    "ARTIFACT_STORES",
    "CHECKPOINTERS",
    "EXPERTS",
    "GROUPS",
    "LLM_BACKENDS",
    "ExtensionNotFound",
    "check_options",
    "check_path",
    "load_named",
    "load_path",
    "registered",
    "unknown_name",
]

EXPERTS = "mm_reactor.experts"
LLM_BACKENDS = "mm_reactor.llm_backends"
CHECKPOINTERS = "mm_reactor.checkpointers"
ARTIFACT_STORES = "mm_reactor.artifact_stores"
GROUPS: dict[str, str] = {
    EXPERTS: "expert",
    LLM_BACKENDS: "controller backend",
    CHECKPOINTERS: "checkpointer",
    ARTIFACT_STORES: "artifact store",
}
"""The entry-point groups and what each one's extensions are called in messages."""

_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class ExtensionNotFound(LookupError):
    """No extension could be found, or imported, for a configured name or class path."""


def registered(group: str) -> dict[str, metadata.EntryPoint]:
    """The installed entry points of ``group``, by name.

    Raises :class:`ExtensionNotFound` when two installed packages register one name differently.
    """
    found: dict[str, metadata.EntryPoint] = {}
    for entry in metadata.entry_points(group=group):
        other = found.get(entry.name)
        if other is not None and other.value != entry.value:
            raise ExtensionNotFound(
                f"two installed packages register the {GROUPS.get(group, group)} {entry.name!r}: "
                f"{_origin(other)} ({other.value}) and {_origin(entry)} ({entry.value}); uninstall one"
            )
        found[entry.name] = entry
    return found


def unknown_name(group: str, name: str) -> str:
    """The message for a name that ``group`` does not register: what is registered, and what to do."""
    what = GROUPS.get(group, group)
    names = sorted(registered(group))
    if not names:
        return (
            f"no {what} named {name!r}: no {what}s are registered at all (entry point group {group}). "
            "The built-ins are registered by mm-reactor's package metadata: install it "
            "(pip install -e . in a checkout; an install from an older checkout lacks them)"
        )
    return (
        f"no {what} named {name!r} is registered; registered: {', '.join(names)} (entry point group "
        f"{group}). Install the package that provides it, or give its class as 'package.module:Name'"
    )


def load_named(group: str, name: str) -> Any:
    """The object that ``group``'s entry point ``name`` refers to (a class, function or module)."""
    entry = registered(group).get(name)
    if entry is None:
        raise ExtensionNotFound(unknown_name(group, name))
    try:
        return entry.load()
    except (ImportError, AttributeError) as err:
        raise ExtensionNotFound(
            f"the {GROUPS.get(group, group)} {name!r} is registered by {_origin(entry)} as {entry.value} "
            f"but cannot be loaded ({type(err).__name__}: {err}); reinstall that package"
        ) from err


def check_path(path: str, *, what: str) -> str:
    """``path`` when it looks like ``package.module:Name``; else :class:`ExtensionNotFound`."""
    if not _PATH.match(path):
        raise ExtensionNotFound(f"{what}: class {path!r} must look like 'package.module:ClassName'")
    return path


def load_path(path: str, *, what: str) -> Any:
    """The object at ``package.module:Name`` (``Name`` may be dotted: ``Outer.Inner``)."""
    module_name, _, attr = check_path(path, what=what).partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ExtensionNotFound(
            f"{what}: cannot import module '{module_name}' ({err}); "
            "is the package installed on this machine and on every Ray node?"
        ) from err
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ExtensionNotFound(f"{what}: module '{module_name}' has no attribute '{attr}'")
        target = getattr(target, part)
    return target


def check_options(factory: Any, args: tuple[Any, ...], options: dict[str, Any], *, what: str) -> None:
    """Raise TypeError, naming ``what``, when ``factory(*args, **options)`` would not bind."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: let the call itself tell
        return
    try:
        signature.bind(*args, **options)
    except TypeError as err:
        name = getattr(factory, "__qualname__", repr(factory))
        given = ", ".join(sorted(options)) or "none"
        raise TypeError(
            f"{what}: {name}{signature} cannot take the configured options ({given}): {err}"
        ) from None


def _origin(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return f"package {dist.name}" if dist is not None else "an installed package"
