"""How the config names an extension: a registered name, or ``{class: package.module:Name, options: …}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from extensions.lookup import (
    ARTIFACT_STORES,
    CHECKPOINTERS,
    GROUPS,
    LLM_BACKENDS,
    ExtensionNotFound,
    check_path,
    load_named,
    load_path,
    registered,
    unknown_name,
)

__all__ = ["ArtifactStoreSetting", "CheckpointerSetting", "ExtensionRef", "LLMBackendSetting", "resolve"]


class ExtensionRef(BaseModel):
    """An extension given in the config as a mapping: ``name`` (registered) or ``class``, plus ``options``.

    ``options`` are passed to the extension's factory as keyword arguments.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str | None = Field(default=None, description="a registered name (an installed entry point)")
    class_path: str | None = Field(default=None, alias="class", description="'package.module:Name'")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of its factory")

    @model_validator(mode="after")
    def _name_or_class(self) -> ExtensionRef:
        if (self.name is None) == (self.class_path is None):
            raise ValueError(
                "give either 'name' (a registered extension) or 'class' ('package.module:Name'), not both"
            )
        if self.class_path is not None:
            try:
                check_path(self.class_path, what="extension")
            except ExtensionNotFound as err:
                raise ValueError(str(err)) from None
        return self

    @property
    def label(self) -> str:
        """The name, or the class path."""
        return self.name or self.class_path or ""


def resolve(group: str, setting: str | ExtensionRef) -> tuple[Any, dict[str, Any]]:
    """The object ``setting`` names in ``group`` (a class or factory), and the options to call it with."""
    if isinstance(setting, str):
        return load_named(group, setting), {}
    if setting.class_path is not None:
        return load_path(setting.class_path, what=GROUPS.get(group, group)), dict(setting.options)
    assert setting.name is not None  # checked when the config was validated
    return load_named(group, setting.name), dict(setting.options)


def _registered_name(group: str, *, strings_are_names: bool = True) -> Callable[[Any], Any]:
    """A validator: the setting's name is registered in ``group`` (checked when the config loads)."""

    def check(value: Any) -> Any:
        name = value.name if isinstance(value, ExtensionRef) else value if strings_are_names else None
        if name is not None:
            try:
                known = name in registered(group)
            except ExtensionNotFound as err:
                raise ValueError(str(err)) from None
            if not known:
                raise ValueError(unknown_name(group, name))
        return value

    return check


LLMBackendSetting = Annotated[Union[str, ExtensionRef], AfterValidator(_registered_name(LLM_BACKENDS))]  # noqa: UP007
"""``controller.backend``: a registered name (openai, transformers, scripted …) or ``{class: …}``."""

CheckpointerSetting = Annotated[Union[str, ExtensionRef], AfterValidator(_registered_name(CHECKPOINTERS))]  # noqa: UP007
"""``checkpointer``: a registered name (sqlite, memory, postgres …) or ``{class: …, options: …}``."""

ArtifactStoreSetting = Annotated[
    Union[str, ExtensionRef],  # noqa: UP007
    AfterValidator(_registered_name(ARTIFACT_STORES, strings_are_names=False)),
]
"""``artifact_store``: a directory or fsspec URL (the built-ins), or ``{name|class: …, options: …}``."""
