"""Where a controlnet call's condition map comes from (experts/_conditions.py); no models, no Ray."""

from __future__ import annotations

import numpy as np
import pytest

from experts._conditions import ANNOTATORS, CONDITION_KINDS, pick_condition
from experts.base import ExpertError, ImageData
from experts.controlnet import ControlNet
from experts.maps import MAP_KINDS

PIXELS = np.zeros((8, 8, 3), np.uint8)


def a_map(kind: str) -> ImageData:
    return ImageData(f"{kind}-1", PIXELS, kind=kind)


def test_an_annotator_map_names_its_own_condition() -> None:
    for kind in MAP_KINDS:
        given = a_map(kind)
        assert pick_condition(None, given, None, False) == (kind, given)
        assert pick_condition(kind, given, None, False) == (kind, given)
    with pytest.raises(
        ExpertError, match="condition_image pose-1 is a pose map; leave 'condition' out or set it"
    ):
        pick_condition("depth", a_map("pose"), None, False)


def test_a_plain_image_needs_its_condition_named() -> None:
    image = ImageData("image-1", PIXELS)
    assert pick_condition("scribble", image, None, False) == ("scribble", image)
    with pytest.raises(ExpertError, match="say what image-1 holds: set 'condition' to one of canny, depth"):
        pick_condition(None, image, None, False)


def test_only_canny_and_seg_are_computed_here_and_the_rest_say_which_expert_makes_them() -> None:
    photo = ImageData("image-1", PIXELS)
    assert pick_condition("canny", None, photo, True) == ("canny", None)
    assert pick_condition("seg", None, photo, True) == ("seg", None)
    assert set(ANNOTATORS) == set(MAP_KINDS) == set(CONDITION_KINDS) - {"canny", "seg"}
    with pytest.raises(
        ExpertError, match="make the scribble map with the hed expert, then the scribble expert"
    ):
        pick_condition("scribble", None, photo, True)
    with pytest.raises(ExpertError, match="'image' is only used with compute_condition: true"):
        pick_condition("canny", None, photo, False)
    with pytest.raises(ExpertError, match="set 'condition' to say which kind of map to follow"):
        pick_condition(None, None, photo, True)
    with pytest.raises(ExpertError, match="not both"):
        pick_condition("canny", photo, photo, True)


def test_the_condition_image_field_takes_maps_and_images_but_not_masks() -> None:
    for handle in ("depth-2", "scribble-1", "image-3"):
        assert ControlNet.Input.model_validate({"prompt": "x", "condition_image": handle})
    with pytest.raises(ValueError, match="'mask-1' is a mask handle but a depth or normal or pose"):
        ControlNet.Input.model_validate({"prompt": "x", "condition_image": "mask-1"})
    with pytest.raises(ValueError, match="'depth-1' is a depth handle but a image handle"):
        ControlNet.Input.model_validate({"prompt": "x", "condition": "canny", "image": "depth-1"})
