"""One contract test over every built-in expert: schemas, rendered descriptions, settings, loading.

Per-expert tests check what an expert does; this file checks what every expert promises:
valid JSON schemas with every argument described, descriptions rendered from the deployed
settings (never a copy of a default), Settings that reject unknown keys, and ``setup()`` that
loads every configured model from a local directory and fails there, naming the option, when a
model is missing. The tiny model builders of ``tests/experts/tiny_*.py`` stand in for weights.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from experts._conditions import CONDITION_KINDS
from experts._contract import placeholders, show
from experts.base import Expert, ExpertDefinitionError, artifact_kind_of
from loading import ModelNotAvailable
from orchestrator.agent.tool_calling import tool_specs
from orchestrator.config import load_config
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue
from prompts import render
from tests.experts.built_ins import built_in_experts, default_model_ids
from tests.experts.harness import call_tool, deployed, observation
from tests.experts.templated_expert import Bright
from tests.experts.tiny_annotators import build_hed_checkpoint, build_mlsd_checkpoint, build_tiny_vitpose
from tests.experts.tiny_clip import build_tiny_clip
from tests.experts.tiny_detect import build_tiny_detect
from tests.experts.tiny_diffusion import (
    build_tiny_controlnet,
    build_tiny_depth_estimator,
    build_tiny_inpaint,
    build_tiny_sd,
    build_tiny_segmenter,
)
from tests.experts.tiny_gligen import build_tiny_gligen
from tests.experts.tiny_mllm import build_tiny_mllm
from tests.experts.tiny_segment import build_tiny_segment
from tests.experts.tiny_text import build_tiny_text_lm

jsonschema = pytest.importorskip("jsonschema")

EXPERTS = built_in_experts()
ALL = pytest.mark.parametrize(
    "expert_cls", sorted(EXPERTS.values(), key=lambda c: c.name), ids=lambda c: c.name
)


def _controlnet(root: Path) -> dict[str, Any]:
    controlnet = str(build_tiny_controlnet(root / "controlnet"))
    return {
        "model": str(build_tiny_sd(root / "sd")),
        "controlnets": dict.fromkeys(CONDITION_KINDS, controlnet),
        "seg_model": str(build_tiny_segmenter(root / "upernet")),
    }


def _checkpoint(build: Callable[[Path], tuple[Path, str]]) -> Callable[[Path], dict[str, Any]]:
    def options(root: Path) -> dict[str, Any]:
        directory, filename = build(root)
        return {"model": str(directory), "filename": filename}

    return options


def _pose(root: Path) -> dict[str, Any]:
    return {
        "model": str(build_tiny_vitpose(root / "vitpose")),
        "detector_model": str(build_tiny_detect(root / "detect")),
    }


def _gligen(root: Path) -> dict[str, Any]:
    return {
        "model": str(build_tiny_gligen(root / "generation")),
        "inpaint_model": str(build_tiny_gligen(root / "inpainting", inpainting=True)),
    }


LOCAL_MODELS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "clip": lambda root: {"model": str(build_tiny_clip(root / "clip"))},
    "controlnet": _controlnet,
    "depth": lambda root: {"model": str(build_tiny_depth_estimator(root / "dpt"))},
    "detect": lambda root: {"model": str(build_tiny_detect(root / "detect"))},
    "gligen": _gligen,
    "hed": _checkpoint(build_hed_checkpoint),
    "inpaint": lambda root: {"model": str(build_tiny_inpaint(root / "inpaint"))},
    "mllm": lambda root: {"model": str(build_tiny_mllm(root / "mllm"))},
    "mlsd": _checkpoint(build_mlsd_checkpoint),
    "pose": _pose,
    "segment": lambda root: {"model": str(build_tiny_segment(root / "segment"))},
    "segment_all": lambda root: {"model": str(build_tiny_segment(root / "segment_all"))},
    "text": lambda root: {"model": str(build_tiny_text_lm(root / "text"))},
    "video_classify": lambda root: {"model": str(build_tiny_clip(root / "clip"))},
    "video_caption": lambda root: {"model": str(build_tiny_mllm(root / "mllm"))},
    "video_qa": lambda root: {"model": str(build_tiny_mllm(root / "mllm"))},
}
"""Options pointing each neural expert's models at tiny local copies; the others need none."""


@pytest.fixture(scope="module")
def local_options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("contract-models")
    return {name: build(root / name) | {"device": "cpu"} for name, build in LOCAL_MODELS.items()}


def test_every_built_in_expert_is_covered() -> None:
    neural = {name for name, cls in EXPERTS.items() if default_model_ids(cls)}
    assert neural == set(LOCAL_MODELS), "give every model-backed expert a tiny local model in LOCAL_MODELS"
    assert {
        "ocr",
        "crop",
        "resize",
        "draw_boxes",
        "overlay_mask",
        "canny",
        "noop",
        "normal",
        "scribble",
    } <= set(EXPERTS)
    effects = {"cutout", "replace_background", "color_pop", "blur_region", "region", "select", "count"}
    assert effects <= set(EXPERTS)


# --- the class -------------------------------------------------------------------------------


@ALL
def test_declares_the_contract(expert_cls: type[Expert]) -> None:
    assert expert_cls.__module__ == f"experts.{expert_cls.name}"
    assert len(expert_cls.describe()) > 60
    assert expert_cls.Output.model_fields  # outputs are never shown as a schema: NewImage holds arrays


@ALL
def test_schemas_are_valid_and_describe_every_argument(expert_cls: type[Expert]) -> None:
    schema = expert_cls.argument_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator.check_schema(expert_cls.Settings.model_json_schema())
    assert schema["type"] == "object"
    properties = schema["properties"]
    fields = expert_cls.Input.model_fields
    assert set(properties) == set(fields)
    assert set(schema.get("required", [])) == {name for name, f in fields.items() if f.is_required()}
    for name, field in fields.items():
        assert properties[name].get("description"), f"{expert_cls.name}.{name} has no description"
        if artifact_kind_of(field.annotation) and field.is_required():
            written = properties[name]
            if written["type"] == "array":  # a list of handles (the mask effects' masks)
                written = written["items"]
            assert written["type"] == "string"  # the controller writes a handle


@ALL
def test_settings_reject_unknown_keys(expert_cls: type[Expert]) -> None:
    with pytest.raises(ValidationError, match="no_such_option"):
        expert_cls.Settings.model_validate({"no_such_option": 1})


# --- what the controller reads ------------------------------------------------------------------


def controller_texts(expert_cls: type[Expert], settings: Any = None) -> Iterator[tuple[str, str]]:
    """(where, text) of everything the controller reads about an expert, rendered from ``settings``."""
    yield "description", expert_cls.describe(settings)
    for name, prop in expert_cls.argument_schema(settings)["properties"].items():
        yield f"argument '{name}'", prop["description"]


def templates(expert_cls: type[Expert]) -> Iterator[tuple[str, str]]:
    """(where, raw text) of the description and the Input field descriptions, placeholders unfilled."""
    yield "description", expert_cls.description
    for name, field in expert_cls.Input.model_fields.items():
        yield f"argument '{name}'", field.description or ""


@ALL
def test_descriptions_follow_the_settings(expert_cls: type[Expert]) -> None:
    defaults = expert_cls.Settings()
    names = {name for _, text in templates(expert_cls) for name in placeholders(text)}
    for name in names:
        changed = defaults.model_copy(update={name: "<<changed>>"})
        shown = [where for where, text in controller_texts(expert_cls, changed) if "<<changed>>" in text]
        assert shown, f"{expert_cls.name}: ${name} is never rendered"
    for where, text in controller_texts(expert_cls):
        assert not re.search(r"\$\{?[A-Za-z_]", text), f"{expert_cls.name} {where}: unrendered placeholder"


@ALL
def test_descriptions_never_copy_a_setting_value(expert_cls: type[Expert]) -> None:
    """A configured value the text states literally would lie after a config change: use $name."""
    values = {
        name: show(value)
        for name, value in expert_cls.Settings().model_dump().items()
        if isinstance(value, int | float) and not isinstance(value, bool) and len(show(value)) >= 2
    }
    for where, text in templates(expert_cls):
        for name, value in values.items():
            if name in placeholders(text):
                continue
            assert not re.search(rf"(?<![\w.$]){re.escape(value)}(?![\w.])", text), (
                f"{expert_cls.name} {where} states {value}, the default of setting '{name}'; write ${name}"
            )


def test_a_config_change_shows_in_the_system_prompt() -> None:
    config = load_config(
        {
            "experts": {
                "detect": {"options": {"box_threshold": 0.6, "text_threshold": 0.45}},
                "gligen": {"options": {"default_size": 256, "max_side": 768, "guidance_scale": 5.5}},
            }
        }
    )
    catalogue = ExpertCatalogue()
    for name, entry in config.experts.items():
        catalogue.add(DeployedExpert(name, EXPERTS[name], None, name, entry.timeout_s, entry.options))
    prompt = render("system", catalogue=catalogue.render(), routing="")
    detect, gligen = (catalogue.get(name).describe() for name in ("detect", "gligen"))  # type: ignore[union-attr]
    assert detect in prompt and gligen in prompt
    assert "(default 0.6)" in detect and "(default 0.45)" in detect and "0.35" not in detect
    assert "at most 768; default 256" in gligen and "(default 5.5)" in gligen and "512" not in gligen
    functions = {spec["function"]["name"]: spec["function"] for spec in tool_specs(catalogue)}
    assert "(default 0.6)" in functions["detect"]["parameters"]["properties"]["box_threshold"]["description"]
    assert "at most 768; default 256" in str(functions["gligen"]["parameters"])  # native tool calling


@pytest.mark.ray
def test_the_system_prompt_follows_a_redeployed_setting(orch) -> None:
    def entry() -> str:
        return orch.system_prompt().split("- bright: ")[1].split("\n- ")[0]

    with deployed(orch, Bright, options={"level": 120}):
        assert "its default level is 120." in entry() and "(default 120)" in entry()
        orch.add_expert(Bright, options={"level": 90.5})  # a config change: redeployed
        assert "its default level is 90.5." in entry() and "(default 90.5)" in entry()
        assert "120" not in entry()
        assert observation(call_tool(orch, "bright", {}))["output"] == {"level": 90.5}


# --- setup() ----------------------------------------------------------------------------------------


@ALL
def test_setup_loads_every_model_from_a_local_directory(expert_cls: type[Expert], local_options) -> None:
    options = local_options.get(expert_cls.name, {})
    for option in default_model_ids(expert_cls):  # every default id is replaced by a local copy
        key, _, sub = option.partition(".")
        assert key in options and (not sub or sub in options[key]), f"{expert_cls.name}: {option}"
    expert_cls(options).setup()


MISSING = [(name, option) for name in sorted(LOCAL_MODELS) for option in default_model_ids(EXPERTS[name])]


@pytest.mark.parametrize(("name", "option"), MISSING, ids=[f"{n}-{o}" for n, o in MISSING])
def test_a_missing_model_fails_setup_naming_it(name: str, option: str, local_options, tmp_path) -> None:
    """Every configured model loads in setup(): one missing fails the deployment, not a later task."""
    missing = str(tmp_path / "no-such-model")
    options = {
        key: dict(value) if isinstance(value, dict) else value for key, value in local_options[name].items()
    }
    key, _, sub = option.partition(".")
    if sub:
        options[key][sub] = missing
    else:
        options[key] = missing
    with pytest.raises(ModelNotAvailable, match=rf"expert '{name}'.*{re.escape(missing)}") as info:
        EXPERTS[name](options).setup()
    assert f"set options.{option} to" in str(info.value)


# --- checked when the class is defined ------------------------------------------------------------


class _In(BaseModel):
    x: int = Field(description="a number")


class _Out(BaseModel):
    y: int


class _Options(Expert.Settings):
    limit: float = 0.5


def define(run: Callable[..., Any], description: str = "Doubles x (up to $limit).", **attrs: Any) -> type:
    """Define an expert class around ``run`` as a user would in a module (or raise the definition error)."""
    namespace = {"name": "doubler", "description": description, "Input": _In, "Output": _Out}
    namespace |= {"Settings": _Options, "run": run} | attrs
    return type("Doubler", (Expert,), namespace)


def test_a_matching_run_signature_is_accepted() -> None:
    def typed(self, inputs: _In) -> _Out:
        return _Out(y=2 * inputs.x)

    def by_name(self, inputs: Input) -> Output:  # noqa: F821  (names of the class body, as strings)
        return _Out(y=2 * inputs.x)

    def untyped(self, inputs):
        return _Out(y=2 * inputs.x)

    for run in (typed, by_name, untyped):
        cls = define(run)
        assert cls().run(_In(x=2)) == _Out(y=4)
    assert define(untyped).describe({"limit": 0.75}) == "Doubles x (up to 0.75)."


def test_a_wrong_run_signature_names_the_expert_and_the_mismatch() -> None:
    class Other(BaseModel):
        z: int

    def two_args(self, inputs: _In, extra: int) -> _Out: ...

    def star_args(self, *inputs: _In) -> _Out: ...

    def keyword_only(self, *, inputs: _In) -> _Out: ...

    def wrong_input(self, inputs: Other) -> _Out: ...

    def wrong_output(self, inputs: _In) -> Other: ...

    where = r"expert class .*Doubler \('doubler'\): "
    for run, problem in [
        (two_args, r"run\(self, inputs, extra\) must take exactly one argument after self"),
        (star_args, r"run\(self, \*inputs\) must take exactly one argument"),
        (keyword_only, r"run\(self, \*, inputs\) must take exactly one argument"),
        (wrong_input, r"run's parameter 'inputs' is annotated Other but the declared Input is _In; annotate"),
        (wrong_output, r"run returns .*Other but the declared Output is _Out"),
    ]:
        with pytest.raises(ExpertDefinitionError, match=where + problem):
            define(run)


def test_a_description_may_only_name_settings() -> None:
    def run(self, inputs: _In) -> _Out: ...

    with pytest.raises(ExpertDefinitionError, match=r"'description' names \$limt, which is not a setting"):
        define(run, description="Doubles x (up to $limt).")
    with pytest.raises(ExpertDefinitionError, match=r"stray '\$'.*write \$\$ for a dollar sign"):
        define(run, description="Doubles x for $5 a call.")

    class Priced(BaseModel):
        x: int = Field(description="costs ${price} each")

    with pytest.raises(ExpertDefinitionError, match=r"Input field 'x' names \$price"):
        define(lambda self, inputs: _Out(y=1), Input=Priced)
    assert define(run, description="Doubles x for $$5 a call.").describe() == "Doubles x for $5 a call."
