"""The detect expert on a tiny random-weight Grounding DINO: structure, batching, labels, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from experts.base import ExpertError, ImageData
from experts.detect import Detect
from loading import ModelNotAvailable
from tests.experts.harness import call_tool, deployed, observation
from tests.experts.tiny_detect import build_tiny_detect

BATCHING = {"max_batch_size": 8, "batch_wait_timeout_s": 0.05}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_detect(tmp_path_factory.mktemp("tiny-detect"))


@pytest.fixture(scope="module")
def local(tiny_dir: Path) -> Detect:
    expert = Detect({"model": str(tiny_dir)})
    expert.setup()
    return expert


@pytest.fixture(scope="module")
def served(orch, tiny_dir: Path):
    options = {"model": str(tiny_dir)}
    with deployed(orch, Detect, options=options, batching=BATCHING, max_ongoing_requests=16) as name:
        yield name


def _image(height: int = 60, width: int = 90, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _inputs(array: np.ndarray, phrases: list[str], **extra) -> Detect.Input:
    return Detect.Input.model_validate({"image": ImageData("image-1", array), "phrases": phrases} | extra)


@pytest.mark.ray
def test_detections_are_a_boxes_artifact_with_lineage(orch, served) -> None:
    phrases = ["cat", "red car"]
    args = {"image": "image-1", "phrases": phrases, "box_threshold": 0.0}
    result = call_tool(orch, served, args, images=[_image()])
    out = observation(result)["output"]
    detections = out["detections"]
    assert detections["handle"] == "boxes-1" and out["count"] == detections["count"] > 0
    assert out["image_size"] == [90, 60]
    artifact = result.artifacts["boxes-1"]
    assert artifact.kind == "boxes" and artifact.parents == ["image-1"] and artifact.producer == "detect"
    items = detections["items"]
    assert [item["score"] for item in items] == sorted((item["score"] for item in items), reverse=True)
    for item in items:
        x0, y0, x1, y1 = item["box"]
        assert all(isinstance(v, int) for v in item["box"])
        assert 0 <= x0 < x1 <= 90 and 0 <= y0 < y1 <= 60
        assert item["label"] in phrases
        assert 0.0 <= item["score"] <= 1.0 and item["score"] == round(item["score"], 3)


@pytest.mark.ray
def test_concurrent_calls_keep_their_own_prompts_and_errors(orch, served) -> None:
    calls = [
        {"image": "image-1", "phrases": ["dog"], "box_threshold": 0.0},
        {"image": "image-2", "phrases": ["person", "ball", "tree"], "box_threshold": 0.0},
        {"image": "image-1", "phrases": []},
        {"image": "image-2", "phrases": ["cat. dog"]},
        {"image": "image-1", "phrases": [f"word{i}" for i in range(40)]},
    ]
    result = call_tool(orch, served, calls, [_image(), _image(40, 50, seed=1)], expect_errors={2, 3, 4})
    first, second = observation(result, 0)["output"], observation(result, 1)["output"]
    assert {item["label"] for item in first["detections"]["items"]} == {"dog"}
    assert {item["label"] for item in second["detections"]["items"]} <= {"person", "ball", "tree"}
    assert second["image_size"] == [50, 40]
    assert "phrases is empty" in observation(result, 2)["error"]
    assert "contains '.'" in observation(result, 3)["error"]
    assert "reads at most 64" in observation(result, 4)["error"]


def test_a_batch_gives_what_each_call_gives_alone(local: Detect) -> None:
    batch = [
        _inputs(_image(seed=0), ["red cat", "dog", "a blue ball"], box_threshold=0.0),
        _inputs(_image(seed=1), ["person"], box_threshold=0.0),
        _inputs(_image(seed=2), []),
        _inputs(_image(seed=3), ["tree", "sign"], box_threshold=0.0),
    ]
    together = local.run_batch(batch)
    assert "phrases is empty" in str(together[2])
    for inputs, batched in zip(batch, together, strict=True):
        if inputs.phrases:
            alone = local.run(inputs)
            assert batched.detections.items == alone.detections.items and alone.count > 0


def test_each_box_is_labelled_with_the_phrase_of_its_best_token(local: Detect) -> None:
    inputs = _inputs(_image(80, 100), ["red cat", "dog"])
    input_ids = local._processor.tokenizer("red cat. dog.", return_tensors="pt")["input_ids"][0]
    tokens = local._processor.tokenizer.convert_ids_to_tokens(input_ids.tolist())
    assert tokens == ["[CLS]", "red", "cat", ".", "dog", ".", "[SEP]"]
    probs = torch.full((4, 64), 0.1)
    probs[0, 4] = 0.9  # 'dog'
    probs[1, 3] = 0.95  # only the separator '.' scores: no phrase, dropped by text_threshold
    probs[2, 1], probs[2, 2] = 0.3, 0.5  # 'red', 'cat'
    probs[3] = 0.2  # below box_threshold
    boxes = torch.tensor(
        [[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.2, 0.2], [0.9, 0.5, 0.4, 0.2], [0.5, 0.5, 0.1, 0.1]]
    )
    out = local._decode(inputs, ["red cat", "dog"], probs, boxes, input_ids)
    assert out.detections.items == [
        {"box": [25, 20, 75, 60], "label": "dog", "score": 0.9},
        {"box": [70, 32, 100, 48], "label": "red cat", "score": 0.5},  # clipped at the right border
    ]
    strict = _inputs(_image(80, 100), ["red cat", "dog"], box_threshold=0.6)
    assert [
        d["label"]
        for d in local._decode(strict, ["red cat", "dog"], probs, boxes, input_ids).detections.items
    ] == ["dog"]


def test_bad_phrases_say_what_to_do(local: Detect) -> None:
    with pytest.raises(ExpertError, match="phrases\\[1\\] is blank"):
        local.run(_inputs(_image(), ["cat", "  "]))
    with pytest.raises(ExpertError, match="'what\\?' contains"):
        local.run(_inputs(_image(), ["what?"]))


def test_missing_model_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotAvailable, match=r"expert 'detect'.*no-such-model"):
        Detect({"model": str(missing)}).setup()


def test_schema_requires_image_and_phrases() -> None:  # defaults, unknown keys: test_contract.py
    schema = Detect.argument_schema()
    assert schema["required"] == ["image", "phrases"]
