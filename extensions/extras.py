"""Optional dependencies: which extra brings which modules, and the line that installs it.

The base install (orchestrator, Ray Serve, LangGraph, OCR) imports none of these; the experts and
backends that need them say so before anything starts, with the ``pip install`` line to run.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "MissingExtra", "extra_providing", "install_line", "missing_modules"]

EXTRAS: dict[str, tuple[str, ...]] = {
    "vision": ("torch", "transformers", "tokenizers", "safetensors", "scipy"),
    "diffusion": ("torch", "transformers", "diffusers"),
    "postgres": ("psycopg", "psycopg_pool", "langgraph.checkpoint.postgres"),
    "video": ("av",),
}
"""Each extra of mm-reactor (pyproject's optional-dependencies) and the modules it makes importable."""


class MissingExtra(ImportError):
    """An expert or backend needs an extra of mm-reactor that is not installed here."""


def install_line(extra: str) -> str:
    """The command that installs ``extra``: ``pip install "mm-reactor[vision]"`` (or several extras,
    ``"vision,video"``)."""
    return f'pip install "mm-reactor[{extra}]"'


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` (or of several, ``"vision,video"``) that cannot be imported here (found
    without importing them)."""
    names = [name.strip() for name in extra.split(",")]
    unknown = [name for name in names if name not in EXTRAS]
    if unknown:
        raise KeyError(f"mm-reactor has no extra named {unknown[0]!r}; extras: {', '.join(sorted(EXTRAS))}")
    modules = dict.fromkeys(module for name in names for module in EXTRAS[name])
    return [module for module in modules if not _importable(module)]


def extra_providing(module: str) -> str | None:
    """The (first) extra that brings ``module`` (or the package it is part of), or None."""
    for extra, modules in EXTRAS.items():
        if any(module == m or module.startswith(f"{m}.") for m in modules):
            return extra
    return None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package of a dotted name
        return False
