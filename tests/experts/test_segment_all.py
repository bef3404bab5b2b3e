"""segment_all: SAM automatic mask generation — the algorithm on a decoder whose answers are known, then
the expert on a tiny random SAM loaded through from_pretrained, then through Serve."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from experts._amg import AmgParams, generate_masks, mask_nms, point_grid, stability_scores
from experts._sam_backend import Embedding
from experts.base import ImageData
from experts.segment import TransformersSam
from experts.segment_all import SegmentAll
from llm.scripted import ScriptedChatModel
from tests.experts.harness import deployed
from tests.experts.tiny_segment_all import build_tiny_segment_all

# --- the pieces -------------------------------------------------------------------------------------


def test_point_grid_is_cell_centres_row_by_row() -> None:
    assert point_grid(2, 10, 4).tolist() == [[2.5, 1.0], [7.5, 1.0], [2.5, 3.0], [7.5, 3.0]]


def test_stability_is_the_iou_of_the_mask_at_two_thresholds() -> None:
    crisp = torch.full((4, 4), -9.0)
    crisp[:2] = 9.0
    soft = torch.tensor([[3.0, 3.0, 0.5, 0.5]] * 4)  # half of it is above +1, all of it above -1
    empty = torch.full((4, 4), -9.0)
    scores = stability_scores(torch.stack([crisp, soft, empty]), 0.0, 1.0)
    assert scores.tolist() == [1.0, 0.5, 0.0]


def test_mask_nms_keeps_the_best_of_overlapping_masks() -> None:
    masks = torch.zeros(4, 10, 10, dtype=torch.bool)
    masks[0, :5] = True  # rows 0-4
    masks[1, :6] = True  # IoU with 0: 50/60
    masks[2, 5:] = True  # disjoint
    scores = torch.tensor([0.8, 0.9, 0.5, 0.99])  # mask 3 is empty: dropped whatever its score
    assert mask_nms(masks, scores, 0.7).tolist() == [1, 2]
    assert mask_nms(masks, scores, 0.9).tolist() == [1, 0, 2]


# --- the algorithm on a decoder with known answers ------------------------------------------------------

REGIONS = np.zeros((64, 64), dtype=np.int64)
REGIONS[:32, :32] = 1
REGIONS[40:60, 40:60] = 2


class RegionDecoder:
    """Stands in for SAM's prompt encoder + mask decoder: each point's three candidates are the region
    it falls in (crisp logits, predicted IoU 0.95), the same region with soft logits (unstable, 0.97)
    and a one-pixel speck (0.3)."""

    def __call__(self, image_embeddings, input_points, input_labels, multimask_output):
        assert multimask_output and input_labels.eq(1).all()
        regions = torch.from_numpy(REGIONS)
        candidates = []
        for x, y in input_points[0, :, 0].tolist():
            inside = regions == regions[int(y), int(x)]
            speck = torch.full((64, 64), -10.0)
            speck[int(y), int(x)] = 10.0
            candidates.append(torch.stack([inside * 20.0 - 10, inside * 1.0 - 0.5, speck]))
        scores = torch.tensor([[0.95, 0.97, 0.3]] * len(candidates))
        return SimpleNamespace(pred_masks=torch.stack(candidates)[None], iou_scores=scores[None])


def region_sam() -> TransformersSam:
    from transformers import SamImageProcessorPil

    sam = object.__new__(TransformersSam)  # everything but the network: the real upscaling path
    sam.image_processor = SamImageProcessorPil(
        size={"longest_edge": 64}, pad_size={"height": 64, "width": 64}
    )
    sam.model, sam.device, sam.threshold, sam._torch = RegionDecoder(), "cpu", 0.0, torch
    return sam


@pytest.mark.parametrize("per_batch", [64, 5])
def test_finds_each_region_once(per_batch: int) -> None:
    embedding = Embedding(torch.zeros(1, 1, 1, 1), (64, 64))
    params = AmgParams(points_per_side=8, points_per_batch=per_batch)
    masks, scores, stability, decoded = generate_masks(region_sam(), embedding, (64, 64), params)
    assert decoded == 64 * 3 and len(masks) == 3
    found = sorted(masks, key=lambda m: -int(m.sum()))
    for mask, label in zip(found, [0, 1, 2], strict=True):
        assert np.array_equal(mask, label == REGIONS)
    assert scores.tolist() == pytest.approx([0.95] * 3) and stability.tolist() == [1.0] * 3


def test_the_expert_orders_largest_first_and_caps(monkeypatch) -> None:
    expert = SegmentAll({"points_per_side": 8})
    expert.sam = region_sam()
    embedding = Embedding(torch.zeros(1, 1, 1, 1), (64, 64))
    image = ImageData("image-1", np.zeros((64, 64, 3), np.uint8))
    out = expert._segment(SegmentAll.Input(image=image), embedding, cached=False)
    assert out.areas == [2672, 1024, 400] and out.found == 3 and out.points == 192
    assert out.boxes == [[0, 0, 64, 64], [0, 0, 32, 32], [40, 40, 60, 60]]
    assert [m.score for m in out.masks] == out.scores == [0.95] * 3
    no_specks = SegmentAll.Input(image=image, min_area_fraction=0.2)  # 1024 / 4096 stays, 400 goes
    assert expert._segment(no_specks, embedding, False).areas == [2672, 1024]
    capped = expert._segment(SegmentAll.Input(image=image, max_masks=2), embedding, False)
    assert capped.areas == [2672, 1024] and capped.found == 3


# --- a tiny random SAM, through from_pretrained -------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_segment_all(tmp_path_factory.mktemp("tiny-sam-amg"))


OPTIONS = {"device": "cpu", "points_per_side": 8, "points_per_batch": 16, "stability_score_thresh": 0.8}


@pytest.fixture(scope="module")
def expert(tiny_dir: Path) -> SegmentAll:
    segment_all = SegmentAll({"model": str(tiny_dir), **OPTIONS})
    segment_all.setup()
    return segment_all


def picture(seed: int, width: int = 70, height: int = 50) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def inputs(array: np.ndarray, **arguments) -> SegmentAll.Input:
    return SegmentAll.Input.model_validate({"image": ImageData("image-1", array), **arguments})


def test_masks_are_filtered_distinct_and_largest_first(expert: SegmentAll) -> None:
    out = expert.run(inputs(picture(0)))
    assert len(out.masks) >= 2 and out.points == 8 * 8 * 3 and out.image_size == [70, 50]
    assert out.areas == sorted(out.areas, reverse=True)
    for mask, area, box in zip(out.masks, out.areas, out.boxes, strict=True):
        assert mask.array.shape == (50, 70) and int(mask.array.sum()) == area
        ys, xs = np.nonzero(mask.array)
        assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert min(out.scores) > 0.88 and min(out.stability) > 0.8
    stacked = np.stack([m.array for m in out.masks]).reshape(len(out.masks), -1)
    assert len({row.tobytes() for row in stacked}) == len(out.masks)  # no mask twice
    stricter = SegmentAll({"model": expert.settings.model, **OPTIONS, "nms_thresh": 0.3})
    stricter.sam, stricter.cache = expert.sam, expert.cache
    assert stricter.run(inputs(picture(0))).found < out.found


def test_the_point_batch_size_does_not_change_the_masks(expert: SegmentAll) -> None:
    one_by_one = SegmentAll({"model": expert.settings.model, **OPTIONS, "points_per_batch": 1})
    one_by_one.sam, one_by_one.cache = expert.sam, expert.cache
    batched, single = expert.run(inputs(picture(5))), one_by_one.run(inputs(picture(5)))
    assert batched.areas == single.areas and batched.boxes == single.boxes and batched.found == single.found
    assert all(np.array_equal(a.array, b.array) for a, b in zip(batched.masks, single.masks, strict=True))


def test_one_encoder_pass_per_distinct_image_and_the_cache(expert: SegmentAll, monkeypatch) -> None:
    expert.cache = type(expert.cache)(2**30)
    passes = []
    embed = expert.sam.embed
    monkeypatch.setattr(expert.sam, "embed", lambda arrays: passes.append(len(arrays)) or embed(arrays))
    a, b = picture(1), picture(2, 40, 60)
    together = expert.run_batch([inputs(a), inputs(b), inputs(a, max_masks=1)])
    assert passes == [2] and not any(out.embedding_cached for out in together)
    assert together[2].areas == together[0].areas[:1]
    again = expert.run(inputs(b))
    assert passes == [2] and again.embedding_cached and again.areas == together[1].areas


# --- through Serve --------------------------------------------------------------------------------------


@pytest.mark.ray
def test_segment_everything_then_cut_out_two_masks_in_a_plan(orch, tiny_dir: Path) -> None:
    plan = [
        {"id": 0, "tool": "segment_all", "arguments": {"image": "image-1", "max_masks": 3}},
        {
            "id": 1,
            "tool": "cutout",
            "arguments": {
                "image": "image-1",
                "masks": ["<step-0>.masks[0].handle", "<step-0>.masks[1].handle"],
                "separate": True,
                "crop": False,
            },
        },
    ]
    with deployed(orch, "segment_all", options={"model": str(tiny_dir), **OPTIONS}), deployed(orch, "cutout"):
        result = orch.run_plan(plan, images=[picture(3)])
    assert result.ok, result.failure
    segmented = json.loads(next(s for s in result.steps if s.tool).observation)["output"]
    assert [m["handle"] for m in segmented["masks"]] == ["mask-1", "mask-2", "mask-3"][
        : len(segmented["masks"])
    ]
    for n in (1, 2):
        mask = result.artifacts[f"mask-{n}"].load()
        cut = result.artifacts[f"image-{n + 1}"].load()
        assert np.array_equal(cut[:, :, 3] == 255, mask) and segmented["masks"][n - 1]["area"] == mask.sum()


@pytest.mark.ray
def test_segment_everything_in_the_react_loop(orch, tiny_dir: Path) -> None:
    turns = [
        'Thought: everything\nAction: segment_all\nAction Input: {"image": "image-1", "max_masks": 2}',
        "Thought: done\nFinal Answer: mask-1 and mask-2",
    ]
    with deployed(orch, "segment_all", options={"model": str(tiny_dir), **OPTIONS}, batching={}):
        result = orch.run("segment everything", images=[picture(4)], chat_model=ScriptedChatModel(turns))
    assert result.ok, result.failure
    output = json.loads(next(s for s in result.steps if s.tool).observation)["output"]
    assert [m["handle"] for m in output["masks"]] == ["mask-1", "mask-2"]
    assert output["areas"] == [m["area"] for m in output["masks"]] and output["found"] >= 2
