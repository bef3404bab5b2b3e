"""The pose expert: a tiny Grounding DINO finds people, a tiny ViTPose their keypoints, drawn OpenPose-style.

Through Ray, the ReAct loop and plans: test_annotators_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experts._openpose import COCO_KEYPOINTS, draw_skeletons
from experts.base import ImageData
from experts.pose import Pose
from loading import ModelNotAvailable
from tests.experts.tiny_annotators import build_tiny_vitpose
from tests.experts.tiny_detect import build_tiny_detect


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pose")
    return {"vitpose": build_tiny_vitpose(root / "vitpose"), "detect": build_tiny_detect(root / "detect")}


@pytest.fixture(scope="module")
def expert(models: dict[str, Path]) -> Pose:
    # Random weights score every box near 0.5: a zero threshold makes the people count predictable.
    options = {"model": str(models["vitpose"]), "detector_model": str(models["detect"]), "device": "cpu"}
    loaded = Pose(options | {"person_threshold": 0.0, "keypoint_threshold": 0.0, "max_people": 3})
    loaded.setup()
    return loaded


def standing_person() -> tuple[list[list[float]], list[bool]]:
    """COCO keypoints of a person facing the viewer in a 100x120 image; the left ankle unseen."""
    points = {
        "nose": (50, 20), "left_eye": (54, 17), "right_eye": (46, 17), "left_ear": (58, 19),
        "right_ear": (42, 19), "left_shoulder": (64, 40), "right_shoulder": (36, 40),
        "left_elbow": (70, 60), "right_elbow": (30, 60), "left_wrist": (72, 78), "right_wrist": (28, 78),
        "left_hip": (58, 80), "right_hip": (42, 80), "left_knee": (58, 98), "right_knee": (42, 98),
        "left_ankle": (58, 116), "right_ankle": (42, 116),
    }  # fmt: skip
    return [list(points[name]) for name in COCO_KEYPOINTS], [name != "left_ankle" for name in COCO_KEYPOINTS]


def test_the_skeleton_is_drawn_in_openpose_colours() -> None:
    canvas = draw_skeletons([standing_person()], 100, 120)
    assert canvas.shape == (120, 100, 3)
    assert canvas[20, 50].tolist() == [255, 0, 0]  # nose, OpenPose joint 0
    assert canvas[40, 50].tolist() == [255, 85, 0]  # the neck (joint 1): between the shoulders
    assert canvas[40, 36].tolist() == [255, 170, 0]  # right shoulder (joint 2)
    assert canvas[98, 58].tolist() == [0, 0, 255]  # left knee (joint 12)
    assert canvas[50, 33].tolist() == [153, 102, 0]  # right upper arm (limb 2) at 60% of (255, 170, 0)
    assert canvas[89, 58].tolist() == [0, 102, 153]  # left thigh (limb 10) at 60% of (0, 170, 255)
    assert not canvas[110:, 52:64].any()  # the unseen left ankle: no shin, no joint
    assert canvas[110, 42].any()  # the right shin is there
    assert not draw_skeletons([], 10, 10).any()


def test_people_and_their_keypoints_come_back_as_data_and_as_a_map(expert: Pose) -> None:
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = expert.run(Pose.Input.model_validate({"image": ImageData("image-1", image)}))
    assert out.pose.kind == "pose" and out.pose.array.shape == (48, 64, 3)
    assert out.count == len(out.people.items) == 3  # capped by max_people
    for person in out.people.items:
        assert person["label"] == "person" and len(person["box"]) == 4 and 0 <= person["score"] <= 1
        assert list(person["keypoints"]) == list(COCO_KEYPOINTS)  # a zero threshold keeps every point
        for x, y, score in person["keypoints"].values():
            assert 0 <= x <= 63 and 0 <= y <= 47 and 0 <= score <= 1
    assert out.pose.array.any()  # skeletons drawn
    fewer = expert.run(Pose.Input.model_validate({"image": ImageData("image-1", image), "max_people": 1}))
    assert fewer.count == 1 and fewer.people.items[0]["box"] == out.people.items[0]["box"]


def test_a_batch_runs_every_person_in_one_pose_pass(expert: Pose) -> None:
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(48, 64, 3), (72, 90, 3)]]
    batch = [Pose.Input.model_validate({"image": ImageData(f"image-{i}", a)}) for i, a in enumerate(images)]
    passes: list[int] = []
    forward = expert._model.forward
    expert._model.forward = lambda **kw: passes.append(len(kw["pixel_values"])) or forward(**kw)
    try:
        together = expert.run_batch(batch)
    finally:
        del expert._model.forward
    assert passes == [6]  # three people in each image, one ViTPose pass
    for item, out in zip(batch, together, strict=True):
        assert isinstance(out, Pose.Output) and out.count == 3
        # the detector pads a batch, so its boxes may differ from single runs; poses of given boxes may not
        alone = expert._keypoints([item.image.array], [out.people.items])[0]
        for person, pose in zip(out.people.items, alone, strict=True):
            right, bottom = item.image.width - 1, item.image.height - 1  # keypoints are clamped to the image
            for name, (x, y) in zip(COCO_KEYPOINTS, pose["keypoints"].tolist(), strict=True):
                expected = [min(max(x, 0), right), min(max(y, 0), bottom)]
                assert person["keypoints"][name][:2] == pytest.approx(expected, abs=0.1)


def test_a_high_keypoint_threshold_lists_and_draws_nothing(models: dict[str, Path]) -> None:
    options = {"model": str(models["vitpose"]), "detector_model": str(models["detect"]), "device": "cpu"}
    strict = Pose(options | {"person_threshold": 0.0, "keypoint_threshold": 1.0, "max_people": 2})
    strict.setup()
    image = np.full((48, 64, 3), 128, np.uint8)  # (the tiny detector's feature maps need some width)
    out = strict.run(Pose.Input.model_validate({"image": ImageData("image-1", image)}))
    assert out.count == 2 and all(p["keypoints"] == {} for p in out.people.items)
    assert not out.pose.array.any()


def test_a_missing_detector_or_a_model_without_coco_keypoints_is_named(models, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-detector")
    with pytest.raises(
        ModelNotAvailable, match=r"expert 'pose': its person detector \(options.detector_model\)"
    ):
        Pose({"model": str(models["vitpose"]), "detector_model": missing, "device": "cpu"}).setup()
    odd = build_tiny_vitpose(tmp_path / "odd", keypoints=5)
    with pytest.raises(ModelNotAvailable, match="predicts 5 keypoints, but the skeleton map needs COCO's 17"):
        Pose({"model": str(odd), "detector_model": str(models["detect"]), "device": "cpu"}).setup()
