"""Prompt templates, kept as files and rendered with :class:`string.Template`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template

__all__ = ["TEMPLATES", "render"]

TEMPLATES = ("system", "routing_mllm", "task", "correction", "failure")


@cache
def _template(name: str) -> Template:
    if name not in TEMPLATES:
        raise KeyError(f"no prompt template {name!r}; known templates: {', '.join(TEMPLATES)}")
    return Template(resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8"))


def render(name: str, **values: object) -> str:
    """Render template ``name`` (``prompts/<name>.md``); every placeholder must be given."""
    try:
        return _template(name).substitute({k: str(v) for k, v in values.items()}).strip()
    except KeyError as err:
        raise KeyError(f"prompt template {name!r} needs a value for {err.args[0]!r}") from None
