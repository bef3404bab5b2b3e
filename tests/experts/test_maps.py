"""Condition maps as artifact kinds: handles, fields that take several kinds, the wire, the store, plans."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, WithJsonSchema

from experts._conditions import CONDITION_KINDS, ConditionMap
from experts.base import (
    HANDLE_PATTERN,
    ImageData,
    ImageRef,
    PendingRef,
    artifact_kind_of,
    artifact_kinds_of,
    ref_validator,
)
from experts.maps import MAP_KINDS, NewDepth, NewHed, NewMap, NewMlsd, NewNormal, NewPose, NewScribble
from experts.protocol import PIXEL_KINDS, PixelRef, pack_output, pixel_content_id
from orchestrator.agent.plan_kinds import ANY, Kind
from orchestrator.agent.plan_refs import Resolver, UnresolvedReference
from orchestrator.agent.plan_validate import input_wants
from orchestrator.storage.artifacts import ArtifactStore, artifact_uri

REPO = Path(__file__).resolve().parents[2]

DepthOrImage = Annotated[
    ImageData, ref_validator("depth", "image"), WithJsonSchema({"type": "string", "description": "x"})
]


class TakesDepth(BaseModel):
    depth: DepthOrImage
    image: ImageRef | None = None


def map_pixels(width: int = 5, height: int = 4) -> np.ndarray:
    return np.arange(width * height * 3, dtype=np.uint8).reshape(height, width, 3)


def test_every_map_kind_has_its_wrapper_handle_and_controlnet_condition() -> None:
    wrappers = {cls.kind: cls for cls in (NewDepth, NewNormal, NewPose, NewHed, NewMlsd, NewScribble)}
    assert set(wrappers) == set(MAP_KINDS) and all(issubclass(c, NewMap) for c in wrappers.values())
    assert set(MAP_KINDS) <= set(CONDITION_KINDS) and set(MAP_KINDS) <= set(PIXEL_KINDS)
    for kind in MAP_KINDS:
        assert HANDLE_PATTERN.fullmatch(f"{kind}-3")
    assert not HANDLE_PATTERN.fullmatch("lineart-1") and not HANDLE_PATTERN.fullmatch("depth-0")


def test_a_field_takes_the_kinds_it_names_and_says_which_when_not() -> None:
    assert artifact_kinds_of(TakesDepth.model_fields["depth"].rebuild_annotation()) == ("depth", "image")
    assert (
        artifact_kind_of(TakesDepth.model_fields["depth"].rebuild_annotation()) == "depth"
    )  # preferred first
    assert artifact_kinds_of(TakesDepth.model_fields["image"].rebuild_annotation()) == ("image",)
    assert TakesDepth.model_validate({"depth": "depth-2"}).depth == PendingRef("depth-2", "depth")
    assert TakesDepth.model_validate({"depth": "image-1"}).depth == PendingRef("image-1", "image")
    with pytest.raises(ValidationError, match="'pose-1' is a pose handle but a depth or image handle"):
        TakesDepth.model_validate({"depth": "pose-1"})
    with pytest.raises(ValidationError, match="'depth-1' is a depth handle but a image handle"):
        TakesDepth.model_validate({"depth": "depth-1", "image": "depth-1"})
    # the replica's side: pixels arrive with their kind, and a map is no plain image
    given = ImageData("depth-1", map_pixels(), kind="depth")
    assert TakesDepth.model_validate({"depth": given}).depth is given
    with pytest.raises(ValidationError, match="expected a image handle like 'image-1', got 'depth-1'"):
        TakesDepth.model_validate({"depth": given, "image": given})
    assert set(artifact_kinds_of(ConditionMap)) == {*MAP_KINDS, "image"}


def test_a_map_crosses_the_wire_as_pixels_of_its_kind() -> None:
    class Out(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)

        depth: NewDepth
        pose: NewPose

    refs: list[np.ndarray] = []
    pixels = map_pixels()
    plain, artifacts = pack_output(
        Out(depth=NewDepth(pixels), pose=NewPose(pixels)), lambda a: refs.append(a) or len(refs)
    )
    assert plain == {"depth": None, "pose": None}
    assert [(a.kind, a.path, a.shape, a.summary) for a in artifacts] == [
        ("depth", ("depth",), [5, 4], {"size": [5, 4]}),
        ("pose", ("pose",), [5, 4], {"size": [5, 4]}),
    ]
    assert artifacts[0].content_id == pixel_content_id("depth", pixels) != artifacts[1].content_id
    with pytest.raises(ValueError, match="a new depth must hold an HxWx3 uint8 array"):
        pack_output(Out(depth=NewDepth(pixels[:, :, 0]), pose=NewPose(pixels)), lambda a: 0)
    received = PixelRef("pose-1", "pose", "id", ref=None).data(pixels)
    assert isinstance(received, ImageData) and received.kind == "pose" and received.handle == "pose-1"


def test_the_store_keeps_a_map_as_a_png_of_its_kind(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    pixels = map_pixels()
    artifact_id, shape, uri = store.put("normal", pixels)
    assert shape == [5, 4] and uri == artifact_uri("normal", artifact_id) and uri.endswith(".png")
    assert artifact_id == pixel_content_id("normal", pixels) != store.put("image", pixels)[0]
    record = {"handle": "normal-1", "id": artifact_id, "kind": "normal", "uri": uri}
    np.testing.assert_array_equal(store.load(record), pixels)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a hed artifact must be HxWx3 uint8"):
        store.put("hed", pixels[:, :, 0])


def _wants(*kinds: str) -> Kind:
    return Kind(kinds[0], artifact=True, alternatives=kinds if len(kinds) > 1 else ())


def _nothing_stored(handle: str) -> None:
    raise UnresolvedReference(handle)


def test_a_plan_reference_resolves_to_the_kind_a_field_takes() -> None:
    results = {"0": {"ok": True, "handles": {"depth": ["depth-1"]}, "output": {}}}
    resolver = Resolver(results, lambda step_id: ANY, _nothing_stored)
    assert input_wants(TakesDepth)["depth"] == _wants("depth", "image")  # what a plan step's field takes
    assert resolver.resolve("<step-0>", _wants("depth", "image")) == "depth-1"
    assert resolver.resolve("<step-0>", _wants(*MAP_KINDS, "image")) == "depth-1"
    results["1"] = {"ok": True, "handles": {"image": ["image-2"], "hed": ["hed-1"]}, "output": {}}
    assert resolver.resolve("<step-1>", _wants("hed", "image")) == "hed-1"  # the preferred kind
    assert resolver.resolve("<step-1>", _wants("image")) == "image-2"
    with pytest.raises(UnresolvedReference, match="that step produced no pose or image"):
        resolver.resolve("<step-0>", _wants("pose", "image"))


def test_the_renderer_draws_every_map_kind_as_a_picture() -> None:
    """The page's list of pixel kinds mirrors PIXEL_KINDS (a new map kind must be added in both)."""
    script = (REPO / "orchestrator" / "service" / "static" / "dom.js").read_text()
    listed = re.search(r"const PIXEL_KINDS = new Set\(\[([^\]]*)\]\)", script)
    assert listed and set(re.findall(r'"(\w+)"', listed.group(1))) == set(PIXEL_KINDS)
