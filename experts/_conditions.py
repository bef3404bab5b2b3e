"""ControlNet's conditions: which kinds there are, where a call's condition map comes from, and the
maps controlnet computes itself (canny, and seg with an ADE20K segmenter).

Every other condition comes from its annotator expert (depth, normal, pose, hed, mlsd, scribble) as a
map artifact of that kind, or from the user as a plain image with the kind named.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import numpy as np
from pydantic import WithJsonSchema

from experts._diffusion import to_pil
from experts._loading import load_model
from experts.base import ExpertError, ImageData, ref_validator
from experts.maps import MAP_KINDS

__all__ = [
    "ADE20K_PALETTE",
    "CONDITION_KINDS",
    "ConditionKind",
    "ConditionMap",
    "SegEstimator",
    "pick_condition",
]

ConditionKind = Literal["canny", "depth", "seg", "normal", "pose", "hed", "mlsd", "scribble"]
CONDITION_KINDS: tuple[str, ...] = get_args(ConditionKind)
"""Every ControlNet condition: each condition-map kind (experts/maps.py), plus canny and seg."""

ConditionMap = Annotated[
    ImageData,
    ref_validator(*MAP_KINDS, "image"),
    WithJsonSchema(
        {
            "type": "string",
            "description": "handle of a condition map from an annotator (depth-1, pose-1, hed-1, …) or of an "
            "image holding a ready map",
        }
    ),
]
"""A condition map: an annotator's map artifact (its kind is the condition) or a plain image."""

ANNOTATORS = {
    "depth": "the depth expert",
    "normal": "the depth expert, then the normal expert on its map",
    "pose": "the pose expert",
    "hed": "the hed expert",
    "mlsd": "the mlsd expert",
    "scribble": "the hed expert, then the scribble expert on its map",
}
"""How a plan makes each condition map controlnet does not compute itself."""

# fmt: off
ADE20K_PALETTE = np.array([  # the ADE20K colours the seg ControlNet was trained on, one per class
    [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3], [120, 120, 80],
    [140, 140, 140], [204, 5, 255], [230, 230, 230], [4, 250, 7], [224, 5, 255], [235, 255, 7],
    [150, 5, 61], [120, 120, 70], [8, 255, 51], [255, 6, 82], [143, 255, 140], [204, 255, 4],
    [255, 51, 7], [204, 70, 3], [0, 102, 200], [61, 230, 250], [255, 6, 51], [11, 102, 255],
    [255, 7, 71], [255, 9, 224], [9, 7, 230], [220, 220, 220], [255, 9, 92], [112, 9, 255],
    [8, 255, 214], [7, 255, 224], [255, 184, 6], [10, 255, 71], [255, 41, 10], [7, 255, 255],
    [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7], [255, 122, 8], [0, 255, 20],
    [255, 8, 41], [255, 5, 153], [6, 51, 255], [235, 12, 255], [160, 150, 20], [0, 163, 255],
    [140, 140, 140], [250, 10, 15], [20, 255, 0], [31, 255, 0], [255, 31, 0], [255, 224, 0],
    [153, 255, 0], [0, 0, 255], [255, 71, 0], [0, 235, 255], [0, 173, 255], [31, 0, 255],
    [11, 200, 200], [255, 82, 0], [0, 255, 245], [0, 61, 255], [0, 255, 112], [0, 255, 133],
    [255, 0, 0], [255, 163, 0], [255, 102, 0], [194, 255, 0], [0, 143, 255], [51, 255, 0],
    [0, 82, 255], [0, 255, 41], [0, 255, 173], [10, 0, 255], [173, 255, 0], [0, 255, 153],
    [255, 92, 0], [255, 0, 255], [255, 0, 245], [255, 0, 102], [255, 173, 0], [255, 0, 20],
    [255, 184, 184], [0, 31, 255], [0, 255, 61], [0, 71, 255], [255, 0, 204], [0, 255, 194],
    [0, 255, 82], [0, 10, 255], [0, 112, 255], [51, 0, 255], [0, 194, 255], [0, 122, 255],
    [0, 255, 163], [255, 153, 0], [0, 255, 10], [255, 112, 0], [143, 255, 0], [82, 0, 255],
    [163, 255, 0], [255, 235, 0], [8, 184, 170], [133, 0, 255], [0, 255, 92], [184, 0, 255],
    [255, 0, 31], [0, 184, 255], [0, 214, 255], [255, 0, 112], [92, 255, 0], [0, 224, 255],
    [112, 224, 255], [70, 184, 160], [163, 0, 255], [153, 0, 255], [71, 255, 0], [255, 0, 163],
    [255, 204, 0], [255, 0, 143], [0, 255, 235], [133, 255, 0], [255, 0, 235], [245, 0, 255],
    [255, 0, 122], [255, 245, 0], [10, 190, 212], [214, 255, 0], [0, 204, 255], [20, 0, 255],
    [255, 255, 0], [0, 153, 255], [0, 41, 255], [0, 255, 204], [41, 0, 255], [41, 255, 0],
    [173, 0, 255], [0, 245, 255], [71, 0, 255], [122, 0, 255], [0, 255, 184], [0, 92, 255],
    [184, 255, 0], [0, 133, 255], [255, 214, 0], [25, 194, 194], [102, 255, 0], [92, 0, 255],
], dtype=np.uint8)
# fmt: on


def pick_condition(
    condition: str | None, given: ImageData | None, source: ImageData | None, compute: bool
) -> tuple[str, ImageData | None]:
    """(the condition kind, the ready map or None when it is to be computed from ``source``).

    A map artifact names its own kind; a plain image needs ``condition``. Raises :class:`ExpertError`
    for a call that gives no map, both, or a condition that contradicts the map's kind.
    """
    if given is not None and source is not None:
        raise ExpertError(
            "give either condition_image (a ready map) or image with compute_condition: true, not both"
        )
    if given is not None:
        if compute:
            raise ExpertError(
                f"compute_condition needs 'image' (the photo to compute the {condition or 'condition'} map "
                "from); condition_image is used as it is"
            )
        if given.kind != "image":
            if condition not in (None, given.kind):
                raise ExpertError(
                    f"condition_image {given.handle} is a {given.kind} map; leave 'condition' out or set it "
                    f"to '{given.kind}'"
                )
            return given.kind, given
        if condition is None:
            raise ExpertError(
                f"say what {given.handle} holds: set 'condition' to one of {', '.join(CONDITION_KINDS)}"
            )
        return condition, given
    if condition is None:
        raise ExpertError("set 'condition' to say which kind of map to follow, e.g. 'canny'")
    if source is None:
        raise ExpertError(
            f"no condition: give condition_image (an existing {condition} map) or image (a photo) "
            "with compute_condition: true"
        )
    if not compute:
        raise ExpertError(
            f"'image' is only used with compute_condition: true (compute its {condition} map); pass a "
            "ready map as condition_image instead"
        )
    if condition in ANNOTATORS:
        raise ExpertError(
            f"controlnet computes canny and seg maps only; make the {condition} map with "
            f"{ANNOTATORS[condition]}, and pass it as condition_image"
        )
    return condition, None


class SegEstimator:
    """An ADE20K semantic segmenter (transformers) that draws maps in the palette the seg ControlNet knows."""

    def __init__(self, model_id: str, *, expert: str, device: str, dtype: Any) -> None:
        from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

        self._device, self._dtype = device, dtype
        self._processor = load_model(
            AutoImageProcessor.from_pretrained, model_id, expert=expert, option="seg_model", backend="pil"
        )
        model = load_model(
            AutoModelForSemanticSegmentation.from_pretrained,
            model_id,
            expert=expert,
            option="seg_model",
            dtype=dtype,
        )
        self._model = model.to(device).eval()

    def __call__(self, array: np.ndarray) -> np.ndarray:
        """The HxWx3 seg map of an RGB image: each pixel the palette colour of its class."""
        import torch

        height, width = array.shape[:2]
        pixels = self._processor(images=to_pil(array), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            outputs = self._model(pixel_values=pixels.to(self._device, self._dtype))
        labels = self._processor.post_process_semantic_segmentation(outputs, target_sizes=[(height, width)])[
            0
        ]
        return ADE20K_PALETTE[labels.cpu().numpy() % len(ADE20K_PALETTE)]
