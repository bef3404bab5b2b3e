"""Pose: people's body keypoints (a person detector, then ViTPose) drawn as an OpenPose skeleton map."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from experts._diffusion import to_pil
from experts._loading import DeviceSettings, load_model
from experts._openpose import COCO_KEYPOINTS, draw_skeletons
from experts.base import Expert, ExpertError, ImageRef, NewBoxes
from experts.maps import NewPose
from loading import ModelNotAvailable, pick_device, pick_dtype


class PoseInput(BaseModel):
    image: ImageRef = Field(description="the image with the people whose poses to find")
    max_people: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="at most this many people, most confident first (default $max_people)",
    )


class PoseOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    pose: NewPose = Field(
        description="OpenPose-style skeleton map, same size as the image: coloured limbs on black"
    )
    people: NewBoxes = Field(
        description="one item per person, most confident first: {box, label 'person', score, keypoints: "
        "{name: [x, y, score]} for the keypoints seen (COCO names: nose, left_eye, …, right_ankle)}"
    )
    count: int = Field(description="number of people found")


class PoseSettings(DeviceSettings):
    """Options for the ``options:`` of the pose entry in the config."""

    model: str = Field(
        default="usyd-community/vitpose-base-simple",
        description="hub id or local directory of a transformers ViTPose model (COCO's 17 keypoints)",
    )
    detector_model: str | None = Field(
        default=None,
        description="Grounding DINO that finds the people (hub id or directory); null: the detect expert's "
        "default model",
    )
    person_threshold: float = Field(default=0.3, ge=0.0, le=1.0, description="person box confidence cut")
    keypoint_threshold: float = Field(
        default=0.3, ge=0.0, le=1.0, description="keypoints scoring below this are not drawn or listed"
    )
    max_people: int = Field(default=10, ge=1, le=100, description="default most people per image")


class Pose(Expert[PoseInput, PoseOutput]):
    name = "pose"
    extra = "vision"
    description = (
        "Find people and their body poses (17 keypoints each: eyes, shoulders, elbows, wrists, hips, "
        "knees, ankles …; a person detector, then ViTPose). Returns 'pose', an OpenPose-style skeleton "
        "map (pose-N) for controlnet's 'pose' condition, 'people' (a boxes artifact whose items carry "
        "the keypoints as {name: [x, y, score]}) and 'count'. Use it to read or copy how people stand."
    )
    Input = PoseInput
    Output = PoseOutput
    Settings = PoseSettings

    settings: PoseSettings

    def setup(self) -> None:
        from transformers import AutoImageProcessor, VitPoseForPoseEstimation

        from experts.detect import Detect, DetectSettings

        s = self.settings
        self._device = pick_device(s.device)
        self._dtype = pick_dtype(s.dtype, self._device)
        detector = s.detector_model or DetectSettings().model
        options = {
            "model": detector,
            "device": s.device,
            "dtype": s.dtype,
            "box_threshold": s.person_threshold,
        }
        self._detector = Detect(options)
        try:
            self._detector.setup()
        except ModelNotAvailable as err:
            raise ModelNotAvailable(
                f"expert 'pose': its person detector (options.detector_model): {err}"
            ) from None
        self._processor = load_model(
            AutoImageProcessor.from_pretrained, s.model, expert=self.name, backend="pil"
        )
        model = load_model(
            VitPoseForPoseEstimation.from_pretrained, s.model, expert=self.name, dtype=self._dtype
        )
        if model.config.num_labels != len(COCO_KEYPOINTS):
            raise ModelNotAvailable(
                f"expert 'pose': {s.model} predicts {model.config.num_labels} keypoints, but the skeleton "
                f"map needs COCO's {len(COCO_KEYPOINTS)}; set options.model to a COCO ViTPose model"
            )
        self._model = model.to(self._device).eval()
        # ViTPose+ models have one head per dataset (a mixture of experts); COCO's is the first.
        self._heads = int(getattr(model.config.backbone_config, "num_experts", 1))

    def run(self, inputs: PoseInput) -> PoseOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[PoseInput]) -> list[PoseOutput | ExpertError]:
        """People in every image in one detector pass, then every person of the batch in one ViTPose pass."""
        from experts.detect import DetectInput

        found = self._detector.run_batch([DetectInput(image=i.image, phrases=["person"]) for i in batch])
        people: list[list[dict[str, Any]]] = []
        for inputs, detections in zip(batch, found, strict=True):
            limit = inputs.max_people or self.settings.max_people
            items = [] if isinstance(detections, ExpertError) else detections.detections.items[:limit]
            people.append([dict(item, label="person") for item in items])
        poses: list[list[dict[str, Any]]] = [[] for _ in batch]
        crowded = [i for i, persons in enumerate(people) if persons]
        if crowded:
            found_poses = self._keypoints(
                [batch[i].image.array for i in crowded], [people[i] for i in crowded]
            )
            for i, image_poses in zip(crowded, found_poses, strict=True):
                poses[i] = image_poses
        results: list[PoseOutput | ExpertError] = []
        for inputs, detections, persons, image_poses in zip(batch, found, people, poses, strict=True):
            if isinstance(detections, ExpertError):
                results.append(detections)
            else:
                results.append(self._output(inputs.image.width, inputs.image.height, persons, image_poses))
        return results

    def _keypoints(self, images: list[Any], people: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        """ViTPose on every person's box (COCO x, y, w, h) of every image at once."""
        import torch

        boxes = [
            [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in (p["box"] for p in persons)]
            for persons in people
        ]
        encoded = self._processor(images=[to_pil(a) for a in images], boxes=boxes, return_tensors="pt")
        pixels = encoded["pixel_values"].to(self._device, self._dtype)
        extra = {}
        if self._heads > 1:
            extra["dataset_index"] = torch.zeros(len(pixels), dtype=torch.long, device=self._device)
        with torch.inference_mode():
            outputs = self._model(pixel_values=pixels, **extra)
        outputs.heatmaps = outputs.heatmaps.float()
        return self._processor.post_process_pose_estimation(outputs, boxes=boxes)

    def _output(
        self, width: int, height: int, persons: list[dict[str, Any]], poses: list[dict[str, Any]]
    ) -> PoseOutput:
        threshold = self.settings.keypoint_threshold
        drawn = []
        for person, pose in zip(persons, poses, strict=True):
            points = pose["keypoints"].float().tolist()
            scores = pose["scores"].float().tolist()
            visible = [score >= threshold for score in scores]
            drawn.append((points, visible))
            person["keypoints"] = {
                name: [
                    round(min(max(x, 0.0), width - 1.0), 1),
                    round(min(max(y, 0.0), height - 1.0), 1),
                    round(score, 3),
                ]
                for name, (x, y), score, seen in zip(COCO_KEYPOINTS, points, scores, visible, strict=True)
                if seen
            }
        return PoseOutput(
            pose=NewPose(draw_skeletons(drawn, width, height)),
            people=NewBoxes(items=persons),
            count=len(persons),
        )
