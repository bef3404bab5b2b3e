"""The generators with their real default models: the output follows the prompt, the layout, the mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from experts.base import ImageData, MaskData
from tests.weights.layout import model_dir
from tests.weights.scene import HEIGHT, SQUARE_BOX, WIDTH, disc_mask, red_fraction, redness, scene

pytestmark = [pytest.mark.weights, pytest.mark.timeout(1800)]  # 20-30 denoising steps on a CPU take minutes


def test_controlnet_canny_output_follows_the_edges() -> None:
    from experts.controlnet import ControlNet

    defaults = ControlNet.Settings()
    options = {
        "model": model_dir(defaults.model),
        "controlnets": {"canny": model_dir(defaults.controlnets["canny"])},
    }
    expert = ControlNet(options)
    expert.setup()
    inputs = {
        "prompt": "a red ball and a blue box on a white table, photo",
        "condition": "canny",
        "image": ImageData("image-1", scene()),
        "compute_condition": True,
        "seed": 0,
        "steps": 20,
    }
    out = expert.run(ControlNet.Input.model_validate(inputs))
    assert out.condition is not None
    wanted = out.condition.array.max(axis=2) > 127
    made = cv2.resize(out.image.array, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    edges = cv2.Canny(cv2.cvtColor(made, cv2.COLOR_RGB2GRAY), 50, 150) > 0

    def density_near(lines: np.ndarray) -> float:
        """Share of edge pixels of the output within 4 px of ``lines``."""
        return float(edges[cv2.dilate(lines.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)].mean())

    followed = density_near(wanted)
    elsewhere = density_near(np.roll(wanted, (120, 160), axis=(0, 1)))  # the same edges, misplaced
    assert followed > 2 * elsewhere, (followed, elsewhere)  # noise has edges everywhere alike


def test_gligen_puts_the_phrase_in_its_box() -> None:
    from experts.gligen import Gligen

    defaults = Gligen.Settings()
    expert = Gligen({"model": model_dir(defaults.model), "inpaint_model": model_dir(defaults.inpaint_model)})
    expert.setup()
    box = [48, 176, 240, 368]
    generate = {
        "prompt": "a photo of an empty white table",
        "phrases": ["a red apple"],
        "boxes": [box],
        "width": 512,
        "height": 512,
        "seed": 0,
        "steps": 30,
    }
    out = expert.run(Gligen.Input.model_validate(generate)).image.array
    inside = np.zeros(out.shape[:2], dtype=bool)
    inside[box[1] : box[3], box[0] : box[2]] = True
    assert redness(out[inside]) > redness(out[~inside]) + 25
    x0, y0, x1, y1 = SQUARE_BOX  # inpainting: an apple where the blue square was, nothing else changed
    edit = {"prompt": "a photo", "phrases": ["a red apple"], "boxes": [SQUARE_BOX], "seed": 0, "steps": 30}
    painted = expert.run(
        Gligen.Input.model_validate(edit | {"image": ImageData("image-1", scene())})
    ).image.array
    assert redness(painted[y0:y1, x0:x1]) > redness(scene()[y0:y1, x0:x1]) + 60
    outside = np.ones((HEIGHT, WIDTH), dtype=bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(painted[outside], scene()[outside])


def test_inpaint_removes_the_masked_disc() -> None:
    from experts.inpaint import Inpaint

    expert = Inpaint({"model": model_dir(Inpaint.Settings().model)})
    expert.setup()
    inputs = {
        "image": ImageData("image-1", scene()),
        "mask": MaskData("mask-1", disc_mask()),
        "prompt": "a plain white wall",
        "negative_prompt": "red, circle, ball, object",
        "dilate": 8,
        "seed": 0,
        "steps": 30,
    }
    out = expert.run(Inpaint.Input.model_validate(inputs)).image.array
    disc = disc_mask()
    fill = out[disc].astype(np.float64)  # a plain white wall: bright and even, not noise
    assert red_fraction(scene()[disc]) > 0.95 and red_fraction(out[disc]) < 0.25
    assert fill.mean() > 160 and fill.std() < 50, (fill.mean(), fill.std())
    grown = cv2.dilate(disc.astype(np.uint8), np.ones((21, 21), np.uint8)).astype(bool)
    assert np.array_equal(out[~grown], scene()[~grown])  # only the (grown) mask was repainted
