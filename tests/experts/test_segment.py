"""The segment expert (SAM) on a tiny random SAM built in-process: prompts, embedding cache, batching."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from experts.base import ExpertError, ImageData, NewMask
from experts.segment import Embedding, EmbeddingCache, Segment, image_key
from loading import ModelNotAvailable
from tests.experts.harness import call_tool, deployed, observation
from tests.experts.tiny_segment import build_tiny_segment

pytestmark = pytest.mark.ray

EMBEDDING_BYTES = 16 * 8 * 8 * 4  # the tiny model's 1x16x8x8 float32 embedding


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_segment(tmp_path_factory.mktemp("tiny-sam"))


@pytest.fixture(scope="module")
def expert(tiny_dir: Path) -> Segment:
    segment = Segment({"model": str(tiny_dir), "device": "cpu"})
    segment.setup()
    return segment


def picture(seed: int, width: int = 70, height: int = 50) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def inputs(array: np.ndarray, **prompts) -> Segment.Input:
    return Segment.Input.model_validate({"image": ImageData("image-1", array), **prompts})


# --- direct calls (no Ray) ----------------------------------------------------------------


def test_one_mask_per_box_at_the_original_size(expert: Segment) -> None:
    out = expert.run(inputs(picture(1), boxes=[[1, 2, 30, 40], [5, 5, 70, 50], [0, 0, 10, 10]]))
    assert len(out.masks) == len(out.scores) == len(out.areas) == 3
    assert out.prompt_index == [0, 1, 2] and out.image_size == [70, 50]
    for mask, score, area in zip(out.masks, out.scores, out.areas, strict=True):
        assert isinstance(mask, NewMask) and mask.array.dtype == bool and mask.array.shape == (50, 70)
        assert mask.score == score and area == int(mask.array.sum())


def test_points_give_one_mask_and_multimask_gives_three_best_first(expert: Segment) -> None:
    array = picture(2)
    single = expert.run(inputs(array, points=[[3, 4], [60.5, 20]], point_labels=[1, 0]))
    assert len(single.masks) == 1 and single.prompt_index == [0]
    multi = expert.run(inputs(array, points=[[3, 4]], multimask=True))
    assert len(multi.masks) == 3 and multi.prompt_index == [0, 0, 0]
    assert multi.scores == sorted(multi.scores, reverse=True)
    both = expert.run(
        inputs(array, boxes=[[1, 2, 30, 40], [5, 5, 60, 45]], points=[[10, 10]], multimask=True)
    )
    assert both.prompt_index == [0, 0, 0, 1, 1, 1]  # the points refine each box's mask


def test_matches_the_processor_and_full_forward_pass(expert: Segment, tiny_dir: Path) -> None:
    """Cached-embedding decoding with our coordinate scaling equals transformers' own pipeline."""
    import torch
    from transformers import SamModel, SamProcessor

    array, boxes = picture(3, 90, 40), [[1, 2, 30, 40], [50, 5, 90, 35]]
    processor = SamProcessor.from_pretrained(tiny_dir)
    model = SamModel.from_pretrained(tiny_dir).eval()
    encoded = processor(images=array, input_boxes=[boxes], return_tensors="pt")
    with torch.inference_mode():
        reference = model(
            pixel_values=encoded["pixel_values"],
            input_boxes=encoded["input_boxes"].float(),
            multimask_output=True,
        )
    best = reference.iou_scores[0].argmax(dim=1)
    (masks,) = processor.post_process_masks(
        [reference.pred_masks[0, torch.arange(2), best][:, None]],
        encoded["original_sizes"],
        encoded["reshaped_input_sizes"],
    )
    for _ in range(2):  # computed, then from the cache
        out = expert.run(inputs(array, boxes=boxes))
        np.testing.assert_allclose(out.scores, reference.iou_scores[0].max(dim=1).values.numpy(), atol=1e-4)
        for i in range(2):
            assert (out.masks[i].array != masks[i, 0].numpy()).mean() < 0.01
    assert out.embedding_cached


def test_bad_prompts_are_clear_errors(expert: Segment) -> None:
    array = picture(4)
    cases = {
        "at least one prompt": {},
        "boxes[1] [0, 0, 80, 10] extends past the 70x50 image": {"boxes": [[0, 0, 5, 5], [0, 0, 80, 10]]},
        "points[0] [70, 3] lies outside the 70x50 image": {"points": [[70, 3]]},
        "2 point_labels for 1 points": {"points": [[1, 1]], "point_labels": [1, 0]},
        "point_labels were given without points": {"boxes": [[0, 0, 5, 5]], "point_labels": [1]},
    }
    for message, prompts in cases.items():
        with pytest.raises(ExpertError, match=message.replace("[", r"\[")):
            expert.run(inputs(array, **prompts))
    with pytest.raises(ValidationError):
        inputs(array, points=[[1, 2, 3]])
    with pytest.raises(ValidationError):
        inputs(array, points=[[1, 2]], point_labels=[2])


def test_embedding_is_cached_by_pixels_not_handle(expert: Segment) -> None:
    array = picture(5)
    first = expert.run(inputs(array, boxes=[[0, 0, 10, 10]]))
    again = expert.run(
        Segment.Input.model_validate({"image": ImageData("image-9", array.copy()), "points": [[5, 5]]})
    )
    assert not first.embedding_cached and again.embedding_cached
    assert not expert.run(inputs(picture(5, 71), points=[[5, 5]])).embedding_cached  # other pixels


def test_run_batch_embeds_uncached_distinct_images_in_one_pass(expert: Segment, monkeypatch) -> None:
    seen: list[int] = []
    encode = expert.backend.model.get_image_embeddings
    monkeypatch.setattr(
        expert.backend.model, "get_image_embeddings", lambda px: seen.append(len(px)) or encode(px)
    )
    known, new_a, new_b = picture(6), picture(7, 40, 60), picture(8, 33, 33)
    expert.run(inputs(known, points=[[1, 1]]))
    seen.clear()
    batch = [
        inputs(new_a, boxes=[[0, 0, 5, 5], [3, 3, 20, 30]]),
        inputs(known, points=[[2, 2]]),
        inputs(new_b, boxes=[[0, 0, 99, 5]]),  # bad: an error for this item only
        inputs(new_a, points=[[4, 4]], multimask=True),
        inputs(new_b, points=[[1, 1]]),
    ]
    results = expert.run_batch(batch)
    assert seen == [2]  # one vision-encoder pass for the two new distinct images
    assert isinstance(results[2], ExpertError) and "33x33" in str(results[2])
    assert [len(r.masks) for r in results if not isinstance(r, ExpertError)] == [2, 1, 3, 1]
    assert [r.embedding_cached for r in results if not isinstance(r, ExpertError)] == [
        False,
        True,
        False,
        False,
    ]
    assert results[4].masks[0].array.shape == (33, 33)


def test_cache_is_lru_and_bounded_by_bytes(expert: Segment, monkeypatch) -> None:
    assert expert.cache.max_bytes == 512 * 2**20  # Settings.embedding_cache_mb
    monkeypatch.setattr(expert, "cache", EmbeddingCache(int(2.5 * EMBEDDING_BYTES)))
    a, b, c = picture(10), picture(11), picture(12)

    def cached(array: np.ndarray) -> bool:
        return expert.run(inputs(array, points=[[1, 1]])).embedding_cached

    assert [cached(a), cached(b), cached(a), cached(c)] == [False, False, True, False]  # c evicts b
    assert len(expert.cache) == 2 and expert.cache.nbytes == 2 * EMBEDDING_BYTES
    assert cached(a) and not cached(b)
    monkeypatch.setattr(expert, "cache", EmbeddingCache(0))  # embedding_cache_mb: 0 turns it off
    assert not cached(a) and not cached(a) and len(expert.cache) == 0


def test_cache_unit_and_image_key() -> None:
    import torch

    cache = EmbeddingCache(max_bytes=100)
    cache.put("big", Embedding(torch.zeros(26), (1, 1)))  # 104 bytes: never stored
    assert len(cache) == 0 and cache.get("big") is None and cache.misses == 1
    cache.put("x", Embedding(torch.zeros(10), (1, 1)))
    cache.put("x", Embedding(torch.zeros(20), (1, 1)))
    assert cache.nbytes == 80 and len(cache) == 1 and cache.get("x").tensor.numel() == 20
    array = picture(13)
    assert image_key(array) == image_key(array.copy()) != image_key(array[:, :69])
    assert image_key(array[:, ::2]) == image_key(np.ascontiguousarray(array[:, ::2]))


def test_settings_and_missing_model() -> None:  # defaults, unknown keys: test_contract.py
    with pytest.raises(ValidationError, match="needs checkpoint"):
        Segment.Settings(backend="segment_anything")
    with pytest.raises(ModelNotAvailable, match=r"segment.*/nowhere/sam-vit-base"):
        Segment({"model": "/nowhere/sam-vit-base"}).setup()


def test_original_backend_says_what_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "segment_anything", None)  # makes the import fail
    segment = Segment({"backend": "segment_anything", "checkpoint": str(tmp_path / "sam.pth")})
    with pytest.raises(ImportError, match=r"pip install 'mm-reactor\[sam-original\]' \(needs torchvision\)"):
        segment.setup()


def _tiny_original_sam(checkpoint: str | None = None):
    """A tiny ``segment_anything`` Sam (64-pixel input, widths 16-32), like its ``_build_sam``."""
    from functools import partial

    import torch
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    torch.manual_seed(0)
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=2,
            embed_dim=32,
            img_size=64,
            mlp_ratio=2,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=2,
            patch_size=8,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=[1],
            window_size=4,
            out_chans=16,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=16, image_embedding_size=(8, 8), input_image_size=(64, 64), mask_in_chans=4
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=16, mlp_dim=32, num_heads=2),
            transformer_dim=16,
            iou_head_depth=3,
            iou_head_hidden_dim=16,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    ).eval()
    if checkpoint is not None:
        sam.load_state_dict(torch.load(checkpoint))
    return sam


def test_original_backend_loads_a_pth_checkpoint(monkeypatch, tmp_path: Path) -> None:
    pytest.importorskip("torchvision", reason="segment-anything needs torchvision")
    segment_anything = pytest.importorskip("segment_anything")
    import torch

    checkpoint = tmp_path / "sam_tiny.pth"
    torch.save(_tiny_original_sam().state_dict(), checkpoint)
    monkeypatch.setitem(segment_anything.sam_model_registry, "tiny", _tiny_original_sam)
    options = {"backend": "segment_anything", "checkpoint": str(checkpoint), "device": "cpu"}
    with pytest.raises(ModelNotAvailable, match="model_type 'vit_x' is not one of"):
        Segment(options | {"model_type": "vit_x"}).setup()
    with pytest.raises(ModelNotAvailable, match=r"nope\.pth does not exist"):
        Segment(options | {"model_type": "tiny", "checkpoint": str(tmp_path / "nope.pth")}).setup()
    segment = Segment(options | {"model_type": "tiny"})
    segment.setup()
    array = picture(30, 90, 40)
    boxes = segment.run(inputs(array, boxes=[[1, 2, 30, 40], [50, 5, 90, 35]]))
    assert [m.array.shape for m in boxes.masks] == [(40, 90), (40, 90)] and not boxes.embedding_cached
    points = segment.run(inputs(array, points=[[3, 4], [60, 20]], point_labels=[1, 0], multimask=True))
    assert len(points.masks) == 3 and points.embedding_cached
    assert points.scores == sorted(points.scores, reverse=True)
    results = segment.run_batch([inputs(picture(31), points=[[1, 1]]), inputs(array, boxes=[[0, 0, 9, 9]])])
    assert [r.embedding_cached for r in results] == [False, True]
    assert results[0].masks[0].array.shape == (50, 70)


# --- through the SDK on the shared Ray ------------------------------------------------------


@pytest.fixture(scope="module")
def served(orch, tiny_dir: Path):
    batching = {"max_batch_size": 8, "batch_wait_timeout_s": 0.05}
    options = {"model": str(tiny_dir), "device": "cpu"}
    with deployed(orch, Segment, options=options, batching=batching, max_ongoing_requests=16) as name:
        yield name


def _png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_served_masks_are_artifacts_with_lineage_and_reuse(orch, served: str) -> None:
    image = _png(picture(20, 80, 60))
    result = call_tool(
        orch, served, {"image": "image-1", "boxes": [[2, 2, 40, 30], [10, 10, 80, 60]]}, [image]
    )
    assert result.ok, result.steps
    output = observation(result)["output"]
    assert [m["handle"] for m in output["masks"]] == ["mask-1", "mask-2"]
    assert output["image_size"] == [80, 60] and output["prompt_index"] == [0, 1]
    assert output["areas"] == [m["area"] for m in output["masks"]] and not output["embedding_cached"]
    for handle in ("mask-1", "mask-2"):
        artifact = result.artifacts[handle]
        assert artifact.kind == "mask" and artifact.parents == ["image-1"] and artifact.producer == served
        assert artifact.shape == [80, 60]  # [width, height]
    again = call_tool(orch, served, {"image": "image-1", "points": [[5, 5]]}, session=result.session)
    assert observation(again)["output"]["embedding_cached"]  # same pixels, same replica


def test_served_concurrent_calls_and_errors(orch, served: str) -> None:
    calls = [{"image": "image-1", "points": [[i, i]]} for i in range(1, 5)]
    calls += [{"image": "image-1"}, {"image": "image-1", "boxes": [[0, 0, 90, 10]]}]
    result = call_tool(orch, served, calls, [_png(picture(21, 64, 48))], expect_errors={4, 5})
    for i in range(4):
        assert len(observation(result, i)["output"]["masks"]) == 1
    assert "at least one prompt" in observation(result, 4)["error"]
    assert "extends past the 64x48 image" in observation(result, 5)["error"]
