"""Checks and rendering behind the expert contract (``experts.base.Expert``), kept out of its way.

- A description may name settings as ``$name`` (``${name}`` inside a word; ``$$`` is a dollar
  sign): :func:`render` fills them from the deployed settings, so the text the controller reads
  always matches the config. ``string.Template`` syntax leaves the JSON-like braces that
  descriptions use (``{box, label, score}``) alone.
- :func:`run_signature_problem` says what is wrong with an expert's ``run`` signature, if anything.

Returns problems as text; ``experts.base`` turns them into ``ExpertDefinitionError``.
"""

from __future__ import annotations

import inspect
import sys
import typing
from string import Template
from typing import Any

from pydantic import BaseModel

__all__ = ["placeholder_problem", "placeholders", "render", "run_signature_problem", "show"]


def placeholders(text: str) -> list[str]:
    """The setting names ``text`` refers to as ``$name`` / ``${name}``; ValueError on a stray ``$``."""
    names = []
    for match in Template.pattern.finditer(text):
        if match.group("invalid") is not None:
            start = match.start("invalid")
            raise ValueError(
                f"stray '$' at {text[max(start - 20, 0) : start + 10]!r}: write $$ for a dollar sign, "
                "or $name / ${name} for a setting"
            )
        name = match.group("named") or match.group("braced")
        if name:
            names.append(name)
    return names


def show(value: Any) -> str:
    """A setting's value as a description shows it: ``0.35``, ``512``, ``true``, ``some/model``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render(text: str, settings: BaseModel) -> str:
    """``text`` with every ``$name`` replaced by the value of setting ``name``."""
    if "$" not in text:
        return text
    values = {name: show(getattr(settings, name)) for name in type(settings).model_fields}
    return Template(text).substitute(values)


def placeholder_problem(text: str, settings_cls: type[BaseModel], where: str) -> str | None:
    """Why ``text`` (found at ``where``) cannot be rendered from ``settings_cls``, or None."""
    try:
        names = placeholders(text)
    except ValueError as err:
        return f"{where}: {err}"
    unknown = sorted(set(names) - set(settings_cls.model_fields))
    if unknown:
        known = ", ".join(settings_cls.model_fields) or "none"
        return (
            f"{where} names ${unknown[0]}, which is not a setting (settings: {known}); "
            "declare it in Settings or write $$ for a dollar sign"
        )
    return None


def _run_hints(cls: type[Any]) -> dict[str, Any]:
    """``run``'s annotations resolved where the class was written (its module, then its body); {} if not."""
    module = sys.modules.get(cls.__module__)
    localns = {**vars(cls), cls.__name__: cls}
    try:
        return typing.get_type_hints(cls.run, globalns=vars(module) if module else None, localns=localns)
    except Exception:  # a name defined later, or in a script Ray rebuilt: compared by name below
        return {}


def _matches(annotation: Any, expected: type, role: str) -> bool:
    """Whether ``annotation`` names ``expected`` (the class's ``role``, "Input" or "Output")."""
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] in (expected.__name__, role)
    return annotation is expected


def run_signature_problem(cls: type[Any]) -> str | None:
    """What is wrong with ``cls.run``'s signature for the declared Input/Output, or None.

    ``run`` takes exactly one parameter after ``self`` (positional; the validated Input); an
    annotation on it, if any, is the class's ``Input``; a return annotation, if any, its ``Output``.
    """
    signature = inspect.signature(cls.run)
    params = list(signature.parameters.values())[1:]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(params) != 1 or params[0].kind not in positional:
        bare = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
        return (
            f"run{signature.replace(parameters=bare, return_annotation=inspect.Signature.empty)} must take "
            "exactly one argument after self, the validated Input: def run(self, inputs: Input) -> Output"
        )
    inputs_cls, outputs_cls = cls.Input, cls.Output
    hints = _run_hints(cls)
    annotation = hints.get(params[0].name, params[0].annotation)
    if annotation is not inspect.Parameter.empty and not _matches(annotation, inputs_cls, "Input"):
        return (
            f"run's parameter '{params[0].name}' is annotated {_text(annotation)} but the declared Input "
            f"is {inputs_cls.__qualname__}; annotate it as {inputs_cls.__name__} (or leave it out)"
        )
    returned = hints.get("return", signature.return_annotation)
    if returned is not inspect.Signature.empty and not _matches(returned, outputs_cls, "Output"):
        return (
            f"run returns {_text(returned)} but the declared Output is {outputs_cls.__qualname__}; "
            f"annotate it as -> {outputs_cls.__name__}"
        )
    return None


def _text(annotation: Any) -> str:
    return (
        annotation if isinstance(annotation, str) else getattr(annotation, "__qualname__", repr(annotation))
    )
