"""Plans that say "all of them" and are checked by kind (issue 9 §7, §9), and how references resolve."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from experts.base import Expert, ImageRef, MaskRef, NewImage, NewText
from experts.registry import load_expert_class
from orchestrator.agent.plan import PlanError, validate_plan
from orchestrator.agent.plan_kinds import BOX, NUMBER, TEXT, Kind, bare_offer, fits, follow, offer_of, want_of
from orchestrator.agent.plan_refs import REFERENCE, Resolver, UnresolvedReference
from orchestrator.agent.plan_validate import input_wants, output_kind
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue


class Gather(Expert):
    """A test expert whose arguments take whole lists: masks, images, box items and texts."""

    name = "gather"
    description = "Takes lists of masks, images, box items and texts (used to test plan kinds)."

    class Item(BaseModel):
        box: list[int]
        label: str = ""

    class Input(BaseModel):
        masks: list[MaskRef] = []
        images: list[ImageRef] = []
        items: list[Gather.Item] = []
        records: list[dict[str, Any]] = []
        texts: list[str] = []
        count: int = 0
        flag: bool = False

    class Output(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        note: NewText
        total: int
        pictures: list[NewImage]

    def run(self, inputs: Input) -> Output:
        raise NotImplementedError


Gather.Input.model_rebuild()


@pytest.fixture(scope="module")
def catalogue() -> ExpertCatalogue:
    catalogue = ExpertCatalogue()
    for name in ("ocr", "crop", "draw_boxes", "overlay_mask", "noop", "detect", "segment", "clip", "mllm"):
        catalogue.add(DeployedExpert(name, load_expert_class(name), handle=None, app_name=name, timeout_s=5))  # type: ignore[arg-type]
    catalogue.add(DeployedExpert("gather", Gather, handle=None, app_name="gather", timeout_s=5))  # type: ignore[arg-type]
    return catalogue


DETECT = {"id": 0, "tool": "detect", "arguments": {"image": "image-1", "phrases": ["cat"]}}
SEGMENT = {"id": 1, "tool": "segment", "arguments": {"image": "image-1", "boxes": [[0, 0, 4, 4]]}}
HANDLES = {"image-1", "boxes-1", "mask-1"}


def problems(steps: list[dict[str, Any]], catalogue: ExpertCatalogue) -> list[str]:
    with pytest.raises(PlanError) as caught:
        validate_plan(steps, catalogue, handles=HANDLES)
    return caught.value.problems


# -- kinds come from the experts' models, generically -------------------------------------------------
def test_kinds_are_derived_from_the_models_not_the_names():
    detect, segment = load_expert_class("detect"), load_expert_class("segment")
    assert output_kind(detect.Output).field("detections") == Kind("boxes", artifact=True)
    assert output_kind(detect.Output).field("count") == NUMBER
    assert output_kind(segment.Output).field("masks") == Kind("list", item=Kind("mask", artifact=True))
    wants = input_wants(segment.Input)
    assert wants["image"] == Kind("image", artifact=True) and wants["boxes"] == Kind("list", item=BOX)
    assert input_wants(Gather.Input)["items"] == Kind("list", item=Kind("box", items=True))
    assert want_of(str) == TEXT and want_of(int | None) == NUMBER
    assert want_of(Literal[0, 1]) == NUMBER and want_of(Literal["a", "b"]) == TEXT

    class Depth(NewImage):  # an output class built on NewImage is still an image
        pass

    assert offer_of(Depth) == Kind("image", artifact=True)


def test_following_a_path_through_outputs_and_artifact_summaries():
    detect = output_kind(load_expert_class("detect").Output)
    assert follow(detect, ["detections", 0, "box"], "<step-0>") == BOX
    assert follow(detect, ["detections", "items", 2, "label"], "<step-0>") == TEXT
    assert follow(detect, ["detections", "count"], "<step-0>") == NUMBER
    segment = output_kind(load_expert_class("segment").Output)
    assert follow(segment, ["masks", 0, "bbox"], "<step-1>") == BOX
    assert fits(follow(segment, ["masks", 0], "<step-1>"), Kind("mask", artifact=True))
    assert bare_offer(segment, Kind("image", artifact=True)) is None


# -- "all of them" (issue 9 §7) -------------------------------------------------------------------------
def test_a_whole_boxes_artifact_goes_where_a_list_of_boxes_is_wanted(catalogue):
    steps = [
        DETECT,
        {"id": 1, "tool": "segment", "arguments": {"image": "image-1", "boxes": "<step-0>"}},
        {"id": 2, "tool": "draw_boxes", "arguments": {"image": "image-1", "boxes": "<step-0>.detections"}},
        {"id": 3, "tool": "crop", "arguments": {"image": "image-1", "box": "<step-0>.detections[0].box"}},
        {"id": 4, "tool": "draw_boxes", "arguments": {"image": "image-1", "boxes": "boxes-1"}},
        {"id": 5, "tool": "overlay_mask", "arguments": {"image": "image-1", "mask": "<step-1>.masks[0]"}},
        {
            "id": 6,
            "tool": "gather",
            "arguments": {"masks": "<step-1>", "items": "<step-0>", "count": "<step-0>"},
        },
        {"id": 7, "tool": "gather", "arguments": {"records": "<step-0>.detections", "items": "boxes-1"}},
    ]
    plan = validate_plan(steps, catalogue, handles=HANDLES)
    assert [s.dependencies for s in plan.steps] == [[], [0], [0], [0], [], [1], [0, 1], [0]]


# -- validation by kind (issue 9 §9) --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "words"),
    [
        (
            {"tool": "crop", "arguments": {"image": "<step-0>", "box": [0, 0, 1, 1]}},
            ["wants an image", "gives boxes"],
        ),
        (
            {"tool": "crop", "arguments": {"image": "<step-0>.detections", "box": [0, 0, 1, 1]}},
            ["wants an image", "is boxes"],
        ),
        (
            {"tool": "overlay_mask", "arguments": {"image": "image-1", "mask": "<step-1>.masks"}},
            ["wants a mask", "a list of masks"],
        ),
        ({"tool": "noop", "arguments": {"payload": "<step-1>"}}, ["wants text", "a list of masks"]),
        (
            {"tool": "crop", "arguments": {"image": "image-1", "box": "<step-0>.detections"}},
            ["wants a box", "is boxes"],
        ),
        (
            {"tool": "crop", "arguments": {"image": "image-1", "box": "<step-0>.detection[0]"}},
            ["no field 'detection'", "detections, count"],
        ),
        (
            {"tool": "crop", "arguments": {"image": "image-1", "box": "<step-0>.count[0]"}},
            ["is a number, not a list"],
        ),
        (
            {"tool": "gather", "arguments": {"count": "<step-1>"}},
            ["wants a number", "<step-1> (segment) gives"],
        ),
        ({"tool": "gather", "arguments": {"flag": "<step-0>.count"}}, ["wants true/false", "is a number"]),
        ({"tool": "gather", "arguments": {"images": "<step-0>"}}, ["wants a list of images", "gives boxes"]),
    ],
)
def test_a_kind_mismatch_is_a_plan_error_naming_both_kinds(catalogue, step, words):
    found = problems([DETECT, SEGMENT, {"id": 2, **step}], catalogue)
    assert len(found) == 1 and all(word in found[0] for word in words), found


def test_a_bare_reference_in_a_text_field_is_that_steps_text(catalogue):
    for source in (
        {"id": 0, "tool": "ocr", "arguments": {"image": "image-1"}},
        {"id": 0, "tool": "mllm", "arguments": {"image": "image-1"}},
    ):
        plan = validate_plan(
            [source, {"id": 1, "tool": "noop", "arguments": {"payload": "<GENERATED>-0"}}], catalogue
        )
        assert plan.step(1).dependencies == [0]


def test_clip_without_labels_is_valid_and_uses_its_default_labels(catalogue):
    plan = validate_plan([{"id": 0, "tool": "clip", "arguments": {"image": "image-1"}}], catalogue)
    assert plan.step(0).arguments == {"image": "image-1"}


# -- resolution at run time -----------------------------------------------------------------------------
ITEMS = [
    {"box": [0, 0, 4, 4], "label": "cat", "score": 0.9},
    {"box": [2, 2, 8, 8], "label": "dog", "score": 0.5},
]
RESULTS = {
    "0": {
        "ok": True,
        "handles": {"boxes": ["boxes-2"]},
        "output": {
            "detections": {"handle": "boxes-2", "count": 2, "items": ITEMS},
            "count": 2,
            "image_size": [9, 9],
        },
    },
    "1": {
        "ok": True,
        "handles": {"mask": ["mask-2", "mask-3"]},
        "output": {
            "masks": [
                {"handle": "mask-2", "area": 16, "bbox": [0, 0, 4, 4]},
                {"handle": "mask-3", "area": 36, "bbox": [2, 2, 8, 8]},
            ]
        },
    },
    "2": {
        "ok": True,
        "handles": {"boxes": ["boxes-3"]},
        "output": {"lines": {"handle": "boxes-3", "items": []}, "text": "OPEN\nDAILY"},
    },
    "3": {"ok": False, "handles": {}, "output": None},
}
TOOLS = {0: "detect", 1: "segment", 2: "ocr"}


@pytest.fixture
def resolver() -> Resolver:
    def output_of(step_id: int) -> Kind:
        return output_kind(load_expert_class(TOOLS[step_id]).Output)

    stored = {"boxes-1": [{"box": [1, 1, 2, 2], "label": "x"}]}
    return Resolver(RESULTS, output_of, lambda handle: stored[handle])


def resolved(resolver: Resolver, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    wants = input_wants(load_expert_class(tool).Input) if tool != "gather" else input_wants(Gather.Input)
    return {name: resolver.resolve(value, wants[name]) for name, value in arguments.items()}


def test_all_of_them_resolves_to_every_box_and_every_mask(resolver):
    boxes = [[0, 0, 4, 4], [2, 2, 8, 8]]
    assert resolved(resolver, "segment", {"boxes": "<step-0>"})["boxes"] == boxes
    assert resolved(resolver, "draw_boxes", {"boxes": "<step-0>.detections"})["boxes"] == boxes
    assert resolved(resolver, "draw_boxes", {"boxes": "boxes-1"})["boxes"] == [[1, 1, 2, 2]]
    assert resolved(resolver, "draw_boxes", {"boxes": ["<step-0>.detections[1].box", [5, 5, 6, 6]]})[
        "boxes"
    ] == [
        [2, 2, 8, 8],
        [5, 5, 6, 6],
    ]
    gathered = resolved(resolver, "gather", {"masks": "<step-1>", "items": "<step-0>", "count": "<step-0>"})
    assert gathered == {"masks": ["mask-2", "mask-3"], "items": ITEMS, "count": 2}
    records = resolved(resolver, "gather", {"records": "<step-0>", "items": "boxes-1"})
    assert records == {"records": ITEMS, "items": [{"box": [1, 1, 2, 2], "label": "x"}]}


def test_the_kth_item_and_its_parts(resolver):
    assert resolved(resolver, "crop", {"box": "<step-0>.detections[0].box"})["box"] == [0, 0, 4, 4]
    assert resolved(resolver, "crop", {"box": "<step-0>.detections[-1]"})["box"] == [2, 2, 8, 8]
    assert resolved(resolver, "crop", {"box": "<step-1>.masks[1].bbox"})["box"] == [2, 2, 8, 8]
    assert resolved(resolver, "overlay_mask", {"mask": "<step-1>.masks[1]"})["mask"] == "mask-3"
    assert resolved(resolver, "overlay_mask", {"mask": "<step-1>"})["mask"] == "mask-2"


def test_text_references_give_text(resolver):
    assert resolved(resolver, "noop", {"payload": "<step-2>"})["payload"] == "OPEN\nDAILY"
    assert resolved(resolver, "noop", {"payload": "<step-0>.detections[0].label"})["payload"] == "cat"
    assert resolved(resolver, "noop", {"payload": "<step-0>.count"})["payload"] == "2"
    inline = resolved(resolver, "noop", {"payload": "read: <step-2>; boxes: <step-0>"})["payload"]
    assert inline == "read: OPEN\nDAILY; boxes: boxes-2"


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("crop", {"box": "<step-3>.box"}, "has not produced an output"),
        ("crop", {"box": "<step-0>.detections[7].box"}, "has no 7"),
        ("crop", {"image": "<step-0>"}, "produced no image"),
    ],
)
def test_unresolvable_references_say_why(resolver, tool, arguments, message):
    with pytest.raises(UnresolvedReference, match=message):
        resolved(resolver, tool, arguments)


def test_reference_ids_are_bounded():
    assert REFERENCE.fullmatch("<step-999999999>") and not REFERENCE.fullmatch("<step-" + "9" * 5000 + ">")
