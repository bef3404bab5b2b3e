"""Extension points found one way: the built-ins are registered entry points, and plugins register the same.

A plugin is "installed" here as pip leaves one: its ``.dist-info`` (with ``entry_points.txt``) on
``sys.path``. Nothing here needs Ray.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from experts.registry import load_expert_class
from extensions import (
    ARTIFACT_STORES,
    CHECKPOINTERS,
    EXPERTS,
    GROUPS,
    LLM_BACKENDS,
    ExtensionNotFound,
    ExtensionRef,
    load_named,
    registered,
)
from llm import ControllerConfig, LLMError, ScriptedChatModel, build_chat_model
from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from orchestrator.storage.artifacts import open_artifact_store
from orchestrator.storage.checkpointing import open_checkpointer
from tests.support.entry_points import write_plugin_metadata
from tests.support.plugins import DictStore, EchoChatModel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
NOT_EXPERTS = {"artifact_types", "base", "deployment", "deployment_defaults", "maps", "protocol", "registry"}


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a plugin distribution (metadata only; its code is in tests.support) for one test."""

    def install(name: str, entry_points: dict[str, dict[str, str]]) -> None:
        write_plugin_metadata(tmp_path / name, name, entry_points)
        monkeypatch.syspath_prepend(str(tmp_path / name))

    return install


def declared_entry_points() -> dict[str, dict[str, str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project["entry-points"]


def test_the_built_ins_are_registered_as_pyproject_declares() -> None:
    declared = declared_entry_points()
    assert set(declared) == set(GROUPS)
    for group in GROUPS:
        installed = {name: entry.value for name, entry in registered(group).items()}
        assert installed == declared[group], (
            f"{group}: the installed metadata differs from pyproject.toml; reinstall (pip install -e .)"
        )


def test_every_built_in_expert_is_registered_and_loads_through_its_entry_point() -> None:
    modules = {p.stem for p in (REPO / "experts").glob("*.py") if not p.stem.startswith("_")} - NOT_EXPERTS
    assert set(registered(EXPERTS)) == modules
    for name in sorted(modules):
        expert_cls = load_expert_class(name)
        assert expert_cls.name == name and expert_cls.__module__ == f"experts.{name}"


@pytest.mark.parametrize("group", [LLM_BACKENDS, CHECKPOINTERS, ARTIFACT_STORES])
def test_every_built_in_backend_loads(group: str) -> None:
    for name in registered(group):
        assert callable(load_named(group, name)), name


def test_a_plugin_registers_every_kind_of_extension_by_name(plugin, tmp_path: Path) -> None:
    plugin(
        "mm-reactor-test-plugin",
        {
            EXPERTS: {"invert": "tests.support.experts:Invert"},
            LLM_BACKENDS: {"echo": "tests.support.plugins:EchoChatModel"},
            CHECKPOINTERS: {"fresh": "orchestrator.storage.checkpointing:open_memory"},
            ARTIFACT_STORES: {"dict": "tests.support.plugins:DictStore"},
        },
    )
    assert load_expert_class("invert").__module__ == "tests.support.experts"

    model = build_chat_model(ControllerConfig(backend={"name": "echo", "options": {"greeting": "hej"}}))
    assert isinstance(model, EchoChatModel) and model.complete([]).endswith("Final Answer: hej")

    config = load_config(
        {
            "data_dir": str(tmp_path / "data"),
            "checkpointer": "fresh",
            "artifact_store": {"name": "dict", "options": {"name": "t"}},
        }
    )
    opened = open_checkpointer(config)
    opened.close()
    assert type(opened.saver.inner).__name__ == "InMemorySaver"
    store = open_artifact_store(config)
    assert isinstance(store.bytes, DictStore) and not store.is_local and store.url == "dict://t"
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    artifact_id, shape, uri = store.put("image", pixels)
    record: Any = {"handle": "image-1", "id": artifact_id, "kind": "image", "uri": uri}
    assert shape == [3, 2] and store.url_of(record) == f"dict://t/{uri}"
    assert np.array_equal(store.load(record), pixels)


def test_two_packages_registering_one_name_is_refused(plugin) -> None:
    plugin("plugin-a", {LLM_BACKENDS: {"twin": "tests.support.plugins:EchoChatModel"}})
    plugin("plugin-b", {LLM_BACKENDS: {"twin": "tests.support.plugins:NotAChatModel"}})
    with pytest.raises(
        ExtensionNotFound, match=r"two installed packages register the controller backend 'twin'"
    ):
        registered(LLM_BACKENDS)


def test_unknown_names_are_refused_when_the_config_loads_and_list_the_registered_ones(tmp_path) -> None:
    with pytest.raises(ValidationError, match=r"no controller backend named 'anthropic'.*openai, scripted"):
        ControllerConfig(backend="anthropic")
    with pytest.raises(ConfigError, match=r"no checkpointer named 'redis' is registered; registered: memory"):
        load_config({"data_dir": str(tmp_path), "checkpointer": "redis"})
    with pytest.raises(ConfigError, match=r"no artifact store named 's3x'.*registered: fsspec, local"):
        load_config({"data_dir": str(tmp_path), "artifact_store": {"name": "s3x"}})


def test_a_reference_names_exactly_one_of_name_and_class() -> None:
    with pytest.raises(ValidationError, match="either 'name'"):
        ExtensionRef.model_validate({"name": "a", "class": "m:C"})
    with pytest.raises(ValidationError, match="either 'name'"):
        ExtensionRef.model_validate({"options": {"x": 1}})
    with pytest.raises(ValidationError, match=r"must look like 'package\.module:ClassName'"):
        ExtensionRef.model_validate({"class": "no_colon"})
    assert ExtensionRef.model_validate({"class": "pkg.mod:Outer.Inner"}).label == "pkg.mod:Outer.Inner"


def test_controller_backends_are_checked() -> None:
    def build(path: str, **options: Any) -> Any:
        return build_chat_model(ControllerConfig(backend={"class": path, "options": options}))

    assert isinstance(build("tests.support.plugins:EchoChatModel", greeting="yo"), EchoChatModel)
    with pytest.raises(LLMError, match=r"returned a NotAChatModel, not a ChatModel"):
        build("tests.support.plugins:NotAChatModel")
    with pytest.raises(LLMError, match=r'needs the \[vision\] extra.*pip install "mm-reactor\[vision\]"'):
        build("tests.support.plugins:backend_needing_torch")
    with pytest.raises(LLMError, match=r"cannot take the configured options \(colour\)"):
        build("tests.support.plugins:EchoChatModel", colour="red")
    with pytest.raises(LLMError, match=r"module 'tests.support.plugins' has no attribute 'Missing'"):
        build("tests.support.plugins:Missing")


def test_the_scripted_backend_replays_replies_from_the_config() -> None:
    config = ControllerConfig(backend={"name": "scripted", "options": {"replies": ["Final Answer: 42"]}})
    model = build_chat_model(config)
    assert isinstance(model, ScriptedChatModel) and model.complete([]) == "Final Answer: 42"


def test_an_environment_base_url_keeps_a_backend_given_by_class(monkeypatch) -> None:
    monkeypatch.setenv("MM_REACTOR_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    ref = {"class": "tests.support.plugins:EchoChatModel"}
    config = ControllerConfig.from_env(ControllerConfig(backend=ref))
    assert isinstance(config.backend, ExtensionRef) and config.backend.class_path == ref["class"]
    assert config.base_url == "http://127.0.0.1:9/v1"
    assert ControllerConfig.from_env(ControllerConfig(backend="transformers")).backend == "openai"


def test_artifact_stores_are_checked(tmp_path) -> None:
    def store(setting: Any) -> Any:
        return open_artifact_store(load_config({"data_dir": str(tmp_path), "artifact_store": setting}))

    assert store(None).root == tmp_path / "artifacts"
    assert store(str(tmp_path / "here")).root == tmp_path / "here"
    assert store({"name": "local", "options": {"root": str(tmp_path / "x")}}).root == tmp_path / "x"
    assert store({"class": "tests.support.plugins:DictStore"}).url == "dict://default"
    with pytest.raises(ConfigError, match=r"made a NotAStore, not a ByteStore"):
        store({"class": "tests.support.plugins:NotAStore"})
    with pytest.raises(ConfigError, match=r"cannot take the configured options \(bucket\)"):
        store({"name": "local", "options": {"bucket": "b"}})
