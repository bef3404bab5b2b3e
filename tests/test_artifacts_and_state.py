"""The artifact store (content addressing, round trips) and the state reducers."""

from __future__ import annotations

import operator
import typing

import numpy as np
import pytest

from orchestrator.agent.state import AgentState, merge_artifacts
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
        store.put("video", b"")


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
    hints = typing.get_type_hints(AgentState, include_extras=True)
    assert hints["artifacts"].__metadata__[0] is merge_artifacts
    assert hints["steps"].__metadata__[0] is operator.add
    assert hints["transcript"].__metadata__[0] is operator.add
