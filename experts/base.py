"""The expert contract: one small class per expert, Ray-free.

An expert declares a ``name``, a ``description`` the controller reads, a pydantic
``Input`` model (its argument schema), a pydantic ``Output`` model, optional
``Settings`` (what the config's ``options:`` may set: model ids, thresholds, devices),
``setup()`` that loads weights once per replica, and ``run(inputs) -> Output``.

Images reach an expert as :class:`ImageData` (already decoded pixels), masks as :class:`MaskData`,
texts as :class:`TextData` and boxes artifacts as :class:`BoxesData`; the controller only ever names
them by handle (``image-1``, ``text-2``). New images, masks, boxes and texts that an
expert produces are wrapped in :class:`NewImage`, :class:`NewMask`, :class:`NewBoxes`,
:class:`NewText` inside its output; the orchestrator stores each as an artifact and gives
it a handle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from experts._contract import placeholder_problem, render, run_signature_problem
from experts.artifact_types import (
    HANDLE_PATTERN,
    BoxesData,
    BoxesRef,
    ImageData,
    ImageRef,
    MaskData,
    MaskRef,
    NewBoxes,
    NewImage,
    NewMask,
    NewText,
    PendingRef,
    TextData,
    TextRef,
    artifact_kind_of,
    artifact_kinds_of,
    looks_like_path,
    ref_validator,
)
from experts.maps import MAP_KINDS

__all__ = [
    "HANDLE_PATTERN",
    "MAP_KINDS",
    "BoxesData",
    "BoxesRef",
    "Expert",
    "ExpertDefinitionError",
    "ExpertError",
    "ImageData",
    "ImageRef",
    "MaskData",
    "MaskRef",
    "NewBoxes",
    "NewImage",
    "NewMask",
    "NewText",
    "PendingRef",
    "TextData",
    "TextRef",
    "artifact_kind_of",
    "artifact_kinds_of",
    "looks_like_path",
    "ref_validator",
]


class ExpertError(Exception):
    """Raised by an expert for a problem with its inputs; the message reaches the controller.

    Say what was wrong and what to do instead, e.g. ``"box [0, 0, 900, 10] lies outside
    the 640x480 image; give pixel coordinates inside it"``.
    """


class ExpertDefinitionError(TypeError):
    """An expert class breaks the contract (raised when the class is defined)."""


InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)


class Expert(Generic[InputT, OutputT]):
    """Base class of every expert, generic over its Input and Output models.

    Example::

        class Crop(Expert[CropInput, CropOutput]):
            name = "crop"
            description = "Crop an image to a box; returns a new image."
            Input = CropInput
            Output = CropOutput

            def run(self, inputs: CropInput) -> CropOutput: ...

    ``description`` and the descriptions of ``Input``'s fields may name settings as ``$name``
    (``$$`` is a dollar sign): :meth:`describe` and :meth:`argument_schema` fill them from the
    deployed settings, so what the controller reads follows the config.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Input: type[InputT]
    Output: type[OutputT]
    thread_safe: ClassVar[bool] = True
    """False makes the replica run one call at a time (a lock around ``run``)."""
    extra: ClassVar[str | None] = None
    """The mm-reactor extra its ``setup()`` needs (``"vision"``, ``"diffusion"``); checked before deploy."""
    answers_tasks: ClassVar[bool] = False
    """True when the expert can take a user's whole task and answer it end to end (the direct route
    the controller may choose); :meth:`is_task_call` then says which calls do that."""
    idempotent: ClassVar[bool] = True
    """True when sending a call again gives the same answer and changes nothing outside the reply.
    A call whose replica dies before it answers is then sent once more, to a live replica. Set it to
    False for an expert that writes somewhere or whose output is a fresh random draw; see
    :meth:`is_idempotent_call` for experts taking a ``seed``."""

    class Settings(BaseModel):
        """Options the config may set for this expert (none by default)."""

        model_config = ConfigDict(extra="forbid")

    settings: BaseModel

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        where = f"expert class {cls.__module__}.{cls.__qualname__}"
        own = cls.__dict__
        if own.get("abstract", False) or not any(
            k in own for k in ("name", "description", "Input", "Output", "run")
        ):
            # An abstract base, or a skeleton class that cloudpickle fills in after creating it
            # (a class shipped by value to a replica); there is nothing of the contract to check yet.
            return
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
            raise ExpertDefinitionError(
                f"{where}: 'name' must be a lowercase identifier like 'draw_boxes', got {name!r}"
            )
        where = f"{where} ('{name}')"
        description = getattr(cls, "description", None)
        if not isinstance(description, str) or len(description.strip()) < 10:
            raise ExpertDefinitionError(
                f"{where}: 'description' must be a sentence the controller can act on"
            )
        for attr in ("Input", "Output", "Settings"):
            model = getattr(cls, attr, None)
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise ExpertDefinitionError(f"{where}: '{attr}' must be a pydantic BaseModel subclass")
        if cls.run is Expert.run:
            raise ExpertDefinitionError(f"{where}: define run(self, inputs) -> Output")
        problem = run_signature_problem(cls) or _template_problem(cls)
        if problem:
            raise ExpertDefinitionError(f"{where}: {problem}")

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None) -> None:
        self.settings = type(self).settings_of(settings)

    def setup(self) -> None:
        """Load weights and other expensive state; called once per replica.

        Load every model the settings name here, so a missing one fails when the expert is
        deployed, not in the middle of a task.
        """

    def run(self, inputs: InputT) -> OutputT:
        """Map validated inputs to an Output instance."""
        raise NotImplementedError  # replaced by every subclass; checked in __init_subclass__

    def run_batch(self, batch: list[InputT]) -> list[OutputT | ExpertError]:
        """Run several inputs at once. Experts whose model runs batched override this.

        Return one Output (or an :class:`ExpertError` for that item alone) per input, in order.
        The replica calls it when the deployment's ``batching`` is on (``@serve.batch``).
        """
        results: list[OutputT | ExpertError] = []
        for inputs in batch:
            try:
                results.append(self.run(inputs))
            except ExpertError as err:
                results.append(err)
        return results

    @classmethod
    def settings_of(cls, settings: BaseModel | Mapping[str, Any] | None = None) -> BaseModel:
        """``settings`` (a config's ``options:``, or None for the defaults) as this expert's Settings."""
        if isinstance(settings, BaseModel):
            return settings
        return cls.Settings.model_validate(dict(settings or {}))

    @classmethod
    def describe(cls, settings: BaseModel | Mapping[str, Any] | None = None) -> str:
        """The description the controller reads, its ``$setting`` names filled from ``settings``."""
        text = cls.description.strip()
        return render(text, cls.settings_of(settings)) if "$" in text else text

    @classmethod
    def argument_schema(cls, settings: BaseModel | Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON schema of the controller-facing arguments, field descriptions filled from ``settings``."""
        schema = cls.Input.model_json_schema()
        properties = schema.get("properties", {})
        if any("$" in prop.get("description", "") for prop in properties.values()):
            values = cls.settings_of(settings)
            for prop in properties.values():
                if "description" in prop:
                    prop["description"] = render(prop["description"], values)
        return schema

    @classmethod
    def is_task_call(cls, arguments: Mapping[str, Any]) -> bool:
        """Whether ``arguments`` hand this expert the user's whole task to answer end to end."""
        return False

    @classmethod
    def is_idempotent_call(cls, arguments: Mapping[str, Any]) -> bool:
        """Whether this call may be sent again when its replica dies (see :attr:`idempotent`).

        An expert whose ``Input`` has a ``seed`` field draws a fresh random seed when the call gives
        none, so only a call that names its seed repeats its result: a generation with a seed is
        idempotent, one without is not.
        """
        if not cls.idempotent:
            return False
        return "seed" not in cls.Input.model_fields or arguments.get("seed") is not None


def _template_problem(cls: type[Expert[Any, Any]]) -> str | None:
    """Why the description or an Input field description names something that is not a setting."""
    texts = {"'description'": cls.description}
    texts |= {
        f"Input field '{name}'": field.description or "" for name, field in cls.Input.model_fields.items()
    }
    for where, text in texts.items():
        problem = placeholder_problem(text, cls.Settings, where)
        if problem:
            return problem
    return None
