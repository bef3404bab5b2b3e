"""The artifact store (content addressing, round trips) and the state reducers."""

from __future__ import annotations

import json
import typing
from types import SimpleNamespace

import numpy as np
import pytest
from langgraph.channels import DeltaChannel

from orchestrator.agent.nodes.observe import observe
from orchestrator.agent.state import (
    AgentState,
    append_all,
    merge_artifact_batches,
    merge_artifacts,
    merge_run_batches,
)
from orchestrator.serving.catalogue import ExpertCatalogue
from orchestrator.storage.artifacts import ArtifactStore, next_handle


def record(handle: str, artifact_id: str = "x" * 64, kind: str = "image"):
    return {
        "handle": handle,
        "id": artifact_id,
        "kind": kind,
        "shape": [1, 1],
        "producer_step": 0,
        "producer": "input",
        "parents": [],
        "uri": "xx/x.png",
    }


def test_same_content_same_id_and_one_file(tmp_path):
    store = ArtifactStore(tmp_path)
    pixels = np.full((5, 7, 3), 9, dtype=np.uint8)
    first = store.put("image", pixels)
    second = store.put("image", pixels.copy())
    assert first == second
    assert first[1] == [7, 5]
    assert len(list(tmp_path.rglob("*.png"))) == 1
    other = pixels.copy()
    other[0, 0, 0] = 10
    assert store.put("image", other)[0] != first[0]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("image", np.arange(60, dtype=np.uint8).reshape(4, 5, 3)),
        ("mask", np.eye(6, dtype=bool)),
        ("boxes", [{"box": [1, 2, 3, 4], "label": "cat", "score": 0.5}]),
        ("text", "FRESH BREAD\nOPEN"),
    ],
)
def test_round_trip(tmp_path, kind, value):
    store = ArtifactStore(tmp_path)
    artifact_id, _, uri = store.put(kind, value)
    loaded = store.load({**record("h-1", artifact_id, kind), "uri": uri})
    if isinstance(value, np.ndarray):
        assert np.array_equal(loaded, value)
    else:
        assert loaded == value


def test_same_pixels_as_mask_and_image_differ(tmp_path):
    store = ArtifactStore(tmp_path)
    assert store.put("mask", np.ones((3, 3), bool))[0] != store.put("text", "x")[0]


def test_bad_values_are_refused(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        store.put("image", np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="unknown artifact kind"):
        store.put("audio", b"")
    with pytest.raises(ValueError, match="a video artifact must be a VideoFile"):
        store.put("video", b"")  # raw bytes: a video is stored only once probed


def test_missing_bytes_say_where(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"image-1 .* missing from the store"):
        store.load(record("image-1"))


def test_next_handle_counts_per_kind():
    table = {
        "image-1": record("image-1"),
        "image-2": record("image-2"),
        "mask-1": record("mask-1", kind="mask"),
    }
    assert next_handle(table, "image") == "image-3"
    assert next_handle(table, "mask") == "mask-2"
    assert next_handle(table, "boxes") == "boxes-1"
    assert next_handle(table, "image", taken={"image-3"}) == "image-4"


def test_artifact_reducer_never_rebinds_a_handle():
    first = {"image-1": record("image-1", "a" * 64)}
    merged = merge_artifacts(first, {"image-1": record("image-1", "b" * 64), "image-2": record("image-2")})
    assert merged["image-1"]["id"] == "a" * 64 and set(merged) == {"image-1", "image-2"}
    assert first == {"image-1": record("image-1", "a" * 64)}  # inputs untouched
    assert merge_artifacts(None, None) == {}


def test_state_reducers_are_declared():
    """The history fields are LangGraph delta channels (a checkpoint stores only what a step added)."""
    hints = typing.get_type_hints(AgentState, include_extras=True)
    for field, reducer in [
        ("artifacts", merge_artifact_batches),
        ("steps", append_all),
        ("transcript", append_all),
        ("runs", merge_run_batches),
    ]:
        channel = hints[field].__metadata__[0]
        assert isinstance(channel, DeltaChannel) and channel.reducer is reducer, field
    # batch reducers: replaying writes in bigger batches than they were made gives the same value
    first, second = {"image-1": record("image-1")}, {"image-2": record("image-2")}
    assert merge_artifact_batches(merge_artifact_batches({}, [first]), [second]) == merge_artifact_batches(
        {}, [first, second]
    )
    assert append_all(append_all([1], [[2], {"append": [3]}]), [[4]]) == append_all([1], [[2], [3], [4]])


def test_new_artifacts_travel_from_act_to_observe_as_plain_data():
    """act hands observe typed records (no magic keys) that survive a checkpoint's JSON round trip."""
    outcome = {
        "call": {"tool": "segment", "arguments": {"image": "image-1"}, "thought": "t", "repairs": ["x"]},
        "ok": True,
        "output": {"masks": [None, None], "image": None, "embedding_cached": False},
        "artifacts": [
            {"path": ["masks", 0], "kind": "mask", "id": "m" * 64, "shape": [4, 3], "uri": "mm/m.png",
             "summary": {"size": [4, 3], "area": 5}},
            {"path": ["masks", 1], "kind": "mask", "id": "n" * 64, "shape": [4, 3], "uri": "nn/n.png",
             "summary": {"size": [4, 3], "area": 0}},
            {"path": ["image"], "kind": "image", "id": "i" * 64, "shape": [4, 3], "uri": "ii/i.png",
             "summary": {"size": [4, 3]}},
        ],
        "error": None,
        "error_type": None,
        "traceback": None,
        "parents": ["image-1"],
        "replica": "segment#1",
        "started_at": 0.0,
        "seconds": 0.5,
    }  # fmt: skip
    state = {
        "run_id": "run-1",
        "turn": 1,
        "status": "running",
        "artifacts": {"image-1": record("image-1")},
        "steps": [],
        "outcomes": [json.loads(json.dumps(outcome))],
    }
    context = SimpleNamespace(catalogue=ExpertCatalogue(), max_steps=5)
    update = observe(state, SimpleNamespace(context=context))  # type: ignore[arg-type]
    assert sorted(update["artifacts"]) == ["image-2", "mask-1", "mask-2"]
    assert update["artifacts"]["mask-2"] == {
        "handle": "mask-2",
        "id": "n" * 64,
        "kind": "mask",
        "shape": [4, 3],
        "producer_step": 1,
        "producer": "segment",
        "parents": ["image-1"],
        "uri": "nn/n.png",
    }
    (step,) = update["steps"]
    assert json.loads(step["observation"])["output"] == {
        "masks": [
            {"handle": "mask-1", "size": [4, 3], "area": 5},
            {"handle": "mask-2", "size": [4, 3], "area": 0},
        ],
        "image": {"handle": "image-2", "size": [4, 3]},
        "embedding_cached": False,
    }
    assert step["new_handles"] == ["mask-1", "mask-2", "image-2"] and step["repairs"] == ["x"]
    assert json.loads(json.dumps(update)) == update  # the state stays plain data
