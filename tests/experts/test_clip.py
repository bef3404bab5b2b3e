"""The clip expert on a tiny random-weight CLIP: classify, classify regions, rank, batching, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from experts.base import ExpertError, ImageData
from experts.clip import Clip, coco_labels
from loading import ModelNotAvailable
from tests.experts.harness import call_tool, deployed, observation
from tests.experts.tiny_clip import build_tiny_clip

BATCHING = {"max_batch_size": 8, "batch_wait_timeout_s": 0.05}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def local(tiny_dir: Path) -> Clip:
    expert = Clip({"model": str(tiny_dir)})
    expert.setup()
    return expert


@pytest.fixture(scope="module")
def served(orch, tiny_dir: Path):
    options = {"model": str(tiny_dir)}
    with deployed(orch, Clip, options=options, batching=BATCHING, max_ongoing_requests=16) as name:
        yield name


def _image(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _data(handle: str = "image-1", seed: int = 0) -> ImageData:
    return ImageData(handle, _image(seed=seed))


def _check_probabilities(prediction: dict, labels: list[str]) -> None:
    probs = prediction["probabilities"]
    assert sorted(probs) == sorted(labels)
    assert list(probs.values()) == sorted(probs.values(), reverse=True)
    assert abs(sum(probs.values()) - 1.0) < 1e-3
    assert prediction["label"] == next(iter(probs)) and prediction["score"] == probs[prediction["label"]]


@pytest.mark.ray
def test_classify_regions_makes_a_boxes_artifact(orch, served) -> None:
    labels = ["cat", "dog", "red car"]
    calls = [
        {"image": "image-1", "labels": labels},
        {"image": "image-1", "labels": labels, "boxes": [[0, 0, 10, 8], [5, 5, 64, 48], [3, 4, 4, 5]]},
    ]
    result = call_tool(orch, served, calls, images=[_image()])
    whole = observation(result, 0)["output"]
    assert whole["mode"] == "classify" and whole["regions"] is None and len(whole["predictions"]) == 1
    _check_probabilities(whole["predictions"][0], labels)
    assert (whole["label"], whole["score"]) == (
        whole["predictions"][0]["label"],
        whole["predictions"][0]["score"],
    )

    boxed = observation(result, 1)["output"]
    assert boxed["label"] is None and [p["box"] for p in boxed["predictions"]] == calls[1]["boxes"]
    for prediction in boxed["predictions"]:
        _check_probabilities(prediction, labels)
    regions = boxed["regions"]
    assert regions["handle"] == "boxes-1" and regions["count"] == 3
    assert regions["items"] == [{k: p[k] for k in ("box", "label", "score")} for p in boxed["predictions"]]
    artifact = result.artifacts["boxes-1"]
    assert artifact.kind == "boxes" and artifact.parents == ["image-1"] and artifact.producer == "clip"


@pytest.mark.ray
def test_rank_orders_the_images_and_errors_stay_per_call(orch, served) -> None:
    calls = [
        {"mode": "rank", "images": ["image-1", "image-2", "image-3"], "query": "a dog on a beach"},
        {"image": "image-1", "labels": []},
        {"image": "image-2", "labels": ["cat"], "boxes": [[0, 0, 65, 10]]},
        {"mode": "rank", "images": ["image-1"]},
    ]
    images = [_image(seed=s) for s in range(3)]
    result = call_tool(orch, served, calls, images=images, expect_errors={1, 2, 3})
    ranking = observation(result, 0)["output"]["ranking"]
    assert sorted(r["image"] for r in ranking) == ["image-1", "image-2", "image-3"]
    assert [r["rank"] for r in ranking] == [1, 2, 3]
    assert [r["score"] for r in ranking] == sorted((r["score"] for r in ranking), reverse=True)
    assert all(-1.0 <= r["similarity"] <= 1.0 for r in ranking)
    assert abs(sum(r["score"] for r in ranking) - 1.0) < 1e-3
    assert "labels is empty" in observation(result, 1)["error"]
    assert "boxes[0] [0, 0, 65, 10] extends past the 64x48 image" in observation(result, 2)["error"]
    assert "needs 'query'" in observation(result, 3)["error"]


def test_a_batch_gives_what_each_call_gives_alone(local: Clip) -> None:
    one, two = _data("image-1", 0), _data("image-2", 1)
    batch = [
        Clip.Input(image=one, labels=["cat", "dog"]),
        Clip.Input(image=two, labels=["dog", "tree", "cup"], boxes=[[0, 0, 32, 24], [10, 10, 64, 48]]),
        Clip.Input(mode="rank", images=[one, two], query="a cat"),
        Clip.Input(image=one, labels=["cat", "cat"]),
    ]
    together = local.run_batch(batch)
    assert "labels[1] 'cat' repeats labels[0]" in str(together[3])
    for inputs, batched in zip(batch[:3], together[:3], strict=True):
        alone = local.run(inputs)
        assert batched == alone


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"labels": ["cat"]}, "needs 'image'"),
        ({"image": "x", "labels": ["cat"], "query": "a cat"}, "images and query are for 'rank'"),
        ({"image": "x", "labels": ["cat"], "boxes": []}, "boxes is empty"),
        ({"image": "x", "labels": ["cat", " "]}, "labels[1] is blank"),
        ({"mode": "rank", "image": "x", "query": "a cat"}, "are for 'classify'"),
        ({"mode": "rank", "query": "a cat"}, "needs 'images'"),
    ],
)
def test_bad_arguments_say_what_to_do(local: Clip, arguments: dict, message: str) -> None:
    if arguments.get("image"):
        arguments = arguments | {"image": _data()}
    with pytest.raises(ExpertError) as err:
        local.run(Clip.Input.model_validate(arguments))
    assert message in str(err.value)


def test_classify_without_labels_uses_cocos_80_classes(local: Clip) -> None:
    """Issue 9 §9: a clip step without labels is valid; the documented default label set is used."""
    output = local.run(Clip.Input(image=_data()))
    _check_probabilities(output.predictions[0], list(coco_labels()))
    assert len(coco_labels()) == 80 and coco_labels()[0] == "person" and coco_labels()[-1] == "toothbrush"
    assert "COCO's 80" in Clip.argument_schema()["properties"]["labels"]["description"]


def test_missing_model_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match=r"expert 'clip'.*no-such-model"):
        Clip({"model": str(tmp_path / "no-such-model")}).setup()


def test_label_template_and_schema() -> None:  # defaults, unknown keys: test_contract.py
    with pytest.raises(ValidationError, match="exactly once"):
        Clip.Settings.model_validate({"label_template": "a photo"})
    schema = Clip.argument_schema()
    assert set(schema["properties"]) == {"mode", "image", "labels", "boxes", "images", "query"}
