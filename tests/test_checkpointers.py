"""Conformance suite: every checkpointer backend (memory, SQLite, PostgreSQL) keeps sessions the same way.

``sqlite-by-class`` is SQLite named the way a plugin is (``{class: …, options: …}``), so a checkpointer
found by class path passes the same suite as the built-ins found by their registered names.

Each backend drives a real ``Orchestrator`` on the shared Ray; the ``invert`` expert is deployed once
under this module's own app prefix and every orchestrator here attaches to it (``deploy=False``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm.base import ChatMessage
from llm.scripted import ScriptedChatModel
from orchestrator import Orchestrator
from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from orchestrator.storage.checkpointing import open_checkpointer

pytestmark = pytest.mark.ray

EXPERTS = {"invert": {"class": "tests.support.experts:Invert"}}
APP_PREFIX = "ckpt-"
BACKENDS = ["memory", "sqlite", "postgres", "sqlite-by-class"]
SQLITE = "orchestrator.storage.checkpointing:open_sqlite"


class ProcessDied(BaseException):
    """Stands in for the process dying mid-run: nothing in the graph or the SDK catches it."""


def invert(handle: str) -> str:
    return f'Thought: invert it\nAction: invert\nAction Input: {{"image": "{handle}"}}'


def answer(text: str = "done") -> str:
    return f"Thought: finished\nFinal Answer: {text}"


def die(messages: list[ChatMessage]) -> str:
    raise ProcessDied


def picture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)


def seen_text(model: ScriptedChatModel, call: int = 0) -> str:
    return "\n".join(m["content"] for m in model.seen[call])


@pytest.fixture(scope="module")
def deployed(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The invert expert, deployed once for every backend of this module."""
    config = {
        "data_dir": str(tmp_path_factory.mktemp("ckpt-deploy")),
        "checkpointer": "memory",
        "ray": {"app_prefix": APP_PREFIX},
        "experts": EXPERTS,
    }
    with Orchestrator.local(config):
        yield


@pytest.fixture(params=BACKENDS)
def config(request: pytest.FixtureRequest, deployed: None, tmp_path: Path) -> dict[str, Any]:
    """The settings of one backend; ``data_dir`` (SQLite file, artifacts) is private to the test."""
    cfg: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "checkpointer": request.param,
        "max_steps": 4,
        "ray": {"app_prefix": APP_PREFIX},
        "experts": EXPERTS,
    }
    if request.param == "postgres":
        cfg["postgres_url"] = request.getfixturevalue("postgres_url")
    if request.param == "sqlite-by-class":
        path = str(tmp_path / "elsewhere" / "sessions.sqlite")
        cfg["checkpointer"] = {
            "class": "orchestrator.storage.checkpointing:open_sqlite",
            "options": {"path": path},
        }
    return cfg


def reopen(config: dict[str, Any]) -> Orchestrator:
    """A new orchestrator on the same settings, attached to the already deployed expert."""
    return Orchestrator.local(config, deploy=False)


def crash_after_one_step(orch: Orchestrator, session: str, *, seed: int) -> None:
    """Start a run that inverts its image, then 'dies' before the controller's next turn."""
    with pytest.raises(ProcessDied):
        orch.run(
            "invert, then stop",
            images=[picture(seed)],
            session=session,
            chat_model=ScriptedChatModel([invert("image-1"), die]),
        )


def new_session() -> str:
    return f"conformance-{uuid.uuid4().hex[:10]}"


def test_second_turn_sees_first_turns_artifacts_and_transcript(config):
    session, image = new_session(), picture(1)
    with reopen(config) as orch:
        first = orch.run(
            "invert the photo",
            images=[image],
            session=session,
            chat_model=ScriptedChatModel([invert("image-1"), answer("inverted")]),
        )
        assert first.ok, first.failure
        assert set(first.artifacts) == {"image-1", "image-2"}
        assert orch.pending_run(session) is None

        model = ScriptedChatModel([invert("image-2"), answer("restored")])
        second = orch.run("invert the inverted photo back", session=session, chat_model=model)
    assert second.ok, second.failure
    assert second.steps[0].error is None, second.steps[0].error
    assert set(second.new_artifacts()) == {"image-3"}
    restored = second.artifacts["image-3"]
    assert restored.parents == ["image-2"] and restored.producer == "invert"
    assert np.array_equal(restored.load(), image)  # inverted twice: the first turn's bytes, by handle
    context = seen_text(model)
    assert "invert the photo" in context and "image-2" in context  # turn 1's task and its output
    assert json.loads(first.steps[0].observation)["output"]["image"]["handle"] == "image-2"


def test_session_survives_closing_and_reopening(config):
    session, image = new_session(), picture(2)
    with reopen(config) as orch:
        first = orch.run(
            "invert the photo",
            images=[image],
            session=session,
            chat_model=ScriptedChatModel([invert("image-1"), answer()]),
        )
        assert first.ok, first.failure
    model = ScriptedChatModel([invert("image-2"), answer()])
    with reopen(config) as orch:
        second = orch.run("invert it back", session=session, chat_model=model)
    if config["checkpointer"] == "memory":
        # The in-memory backend lives and dies with its orchestrator: the reopened one has never
        # heard of the session, so image-2 is unknown. Use sqlite or postgres to keep sessions.
        assert "no artifact 'image-2'" in (second.steps[0].error or "")
        assert "image-2" not in second.artifacts
        assert "invert the photo" not in seen_text(model)
        return
    assert second.steps[0].error is None, second.steps[0].error
    assert np.array_equal(second.artifacts["image-3"].load(), image)
    assert second.artifacts["image-2"].id == first.artifacts["image-2"].id
    assert "invert the photo" in seen_text(model)


def test_unfinished_run_is_reported_then_resumed(config):
    session = new_session()
    with reopen(config) as orch:
        crash_after_one_step(orch, session, seed=3)
        pending = orch.pending_run(session)
        assert pending is not None
        assert pending["task"] == "invert, then stop" and pending["steps"] == 1
        assert pending["next"] == ["think"] and not pending["awaiting_approval"]
        model = ScriptedChatModel([answer("resumed")])
        resumed = orch.resume(session, chat_model=model)
    assert resumed.ok and resumed.answer == "resumed"
    assert resumed.run_id == pending["run_id"]
    assert [s.tool for s in resumed.steps] == ["invert", None]  # the step before the crash is kept
    assert "image-2" in seen_text(model)  # the controller saw the pre-crash observation


def test_unfinished_run_is_recorded_as_interrupted_by_the_next_run(config):
    session = new_session()
    with reopen(config) as orch:
        crash_after_one_step(orch, session, seed=4)
        lost = orch.pending_run(session)
        assert lost is not None
        model = ScriptedChatModel([invert("image-2"), answer()])
        result = orch.run("carry on", session=session, chat_model=model)
        assert orch.pending_run(session) is None
    assert result.ok, result.failure
    assert result.interrupted_runs == [lost["run_id"]]
    assert result.steps[0].error is None  # the interrupted run's artifact is still usable
    assert "interrupted" in seen_text(model)  # the controller is told, not left guessing


def test_a_checkpointer_by_class_gets_its_options(deployed, tmp_path):
    path = tmp_path / "elsewhere" / "sessions.sqlite"
    config = {
        "data_dir": str(tmp_path),
        "checkpointer": {"class": SQLITE, "options": {"path": str(path)}},
        "ray": {"app_prefix": APP_PREFIX},
        "experts": EXPERTS,
    }
    with reopen(config) as orch:
        assert orch.run("say hi", chat_model=ScriptedChatModel([answer("hi")])).ok
    assert path.stat().st_size > 0
    assert not (tmp_path / "sessions.sqlite").exists()


def test_checkpointer_factories_are_checked(tmp_path):
    def config(checkpointer: Any) -> Any:
        return load_config({"data_dir": str(tmp_path), "checkpointer": checkpointer})

    with pytest.raises(ConfigError, match=r"no checkpointer named 'redis'.*memory, postgres, sqlite"):
        config("redis")
    with pytest.raises(ConfigError, match=r"cannot take the configured options \(colour\)"):
        open_checkpointer(config({"name": "sqlite", "options": {"colour": "red"}}))
    with pytest.raises(ConfigError, match=r"returned InMemorySaver, not \(saver, close\)"):
        open_checkpointer(config({"class": "tests.support.plugins:saver_without_close"}))
    with pytest.raises(ConfigError, match=r"checkpointer: cannot import module 'no_such_package.mod'"):
        open_checkpointer(config({"class": "no_such_package.mod:open_it"}))


def test_postgres_needs_a_url(monkeypatch, tmp_path):
    monkeypatch.delenv("MM_REACTOR_POSTGRES_URL", raising=False)
    with pytest.raises(ConfigError, match="MM_REACTOR_POSTGRES_URL"):
        open_checkpointer(load_config({"data_dir": str(tmp_path), "checkpointer": "postgres"}))


def test_unreachable_postgres_names_the_server_not_the_password(tmp_path):
    url = "postgresql://reactor:s3cret@127.0.0.1:9/sessions"
    config = load_config({"data_dir": str(tmp_path), "checkpointer": "postgres", "postgres_url": url})
    with pytest.raises(ConfigError, match=r"cannot reach .*reactor:\*\*\*@127\.0\.0\.1:9/sessions") as info:
        open_checkpointer(config)
    assert "s3cret" not in str(info.value)


def test_artifacts_on_a_store_url(deployed, tmp_path):
    """The artifact store is an fsspec URL (here memory://, as s3:// would be): runs, load and save work."""
    root = f"memory://mmr-{uuid.uuid4().hex[:8]}/artifacts"
    config = {
        "data_dir": str(tmp_path),
        "checkpointer": "sqlite",
        "artifact_store": root,
        "ray": {"app_prefix": APP_PREFIX},
        "experts": EXPERTS,
    }
    image = picture(5)
    with reopen(config) as orch:
        result = orch.run(
            "invert the photo",
            images=[image],
            chat_model=ScriptedChatModel([invert("image-1"), answer()]),
        )
    assert result.ok, result.failure
    inverted = result.artifacts["image-2"]
    assert inverted.path is None and inverted.url.startswith(f"{root}/")
    assert np.array_equal(inverted.load(), 255 - image)
    (saved,) = result.save_artifacts(tmp_path / "out")
    assert saved.name == "image-2.png" and saved.read_bytes().startswith(b"\x89PNG")
