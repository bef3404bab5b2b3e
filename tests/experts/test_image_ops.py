"""The image-op experts and the noop expert, called directly (no Ray)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from experts._geometry import check_box_inside, enclosing_box, parse_color
from experts.base import Expert, ExpertError, ImageData, MaskData, NewImage
from experts.canny import Canny
from experts.crop import Crop
from experts.draw_boxes import DrawBoxes
from experts.noop import Noop
from experts.overlay_mask import OverlayMask
from experts.resize import Resize


def gradient_image(width: int = 64, height: int = 48) -> np.ndarray:
    """An RGB image whose every pixel is distinct: R = x, G = y, B = (x + y) % 256."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=2).astype(np.uint8)


def run(expert_cls: type[Expert], **arguments: object) -> Any:
    expert = expert_cls()
    expert.setup()
    return expert.run(expert_cls.Input.model_validate(arguments))


def image(array: np.ndarray, handle: str = "image-1") -> ImageData:
    return ImageData(handle, array)


# --- handles (the schema and Settings checks of every expert: test_contract.py) ----------------


def test_image_field_accepts_a_handle_string_before_resolution() -> None:
    inputs = Crop.Input.model_validate({"image": "image-3", "box": [0, 0, 1, 1]})
    assert inputs.image.handle == "image-3"  # a PendingRef until the orchestrator resolves it


# --- shared geometry --------------------------------------------------------------------


def test_check_box_inside_accepts_the_whole_image() -> None:
    assert check_box_inside([0, 0, 640, 480], 640, 480) == (0, 0, 640, 480)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ([0, 0, 900, 10], "[0, 0, 900, 10] extends past the 640x480 image; give pixel coordinates"),
        ([700, 500, 900, 600], "lies outside the 640x480 image"),
        ([-1, 0, 10, 10], "extends past"),
        ([10, 10, 10, 20], "is empty or reversed; give [x0, y0, x1, y1] with x0 < x1"),
        ([10, 30, 20, 20], "is empty or reversed"),
    ],
)
def test_check_box_inside_errors(box: list[int], expected: str) -> None:
    with pytest.raises(ExpertError, match=None) as err:
        check_box_inside(box, 640, 480)
    assert expected in str(err.value)


def test_enclosing_box_rounds_outwards_and_clips() -> None:
    assert enclosing_box([[1.2, 2.7], [10.1, 2.0], [10.9, 8.5], [0.5, 9.0]], 100, 100) == [0, 2, 11, 9]
    assert enclosing_box([[-5, -5], [120, 130]], 100, 80) == [0, 0, 100, 80]


def test_parse_color() -> None:
    assert parse_color("red") == (255, 0, 0)
    assert parse_color("#00ff80") == (0, 255, 128)
    with pytest.raises(ExpertError, match="use a name like 'red'"):
        parse_color("blurple")


# --- crop ---------------------------------------------------------------------------------


def test_crop_returns_exactly_the_box_pixels() -> None:
    array = gradient_image()
    out = run(Crop, image=image(array), box=[5, 7, 25, 17])
    assert isinstance(out.image, NewImage)
    assert out.image.array.shape == (10, 20, 3)
    np.testing.assert_array_equal(out.image.array, array[7:17, 5:25])
    assert out.box == [5, 7, 25, 17]


def test_crop_padding_is_clipped_at_the_border() -> None:
    array = gradient_image(64, 48)
    out = run(Crop, image=image(array), box=[2, 40, 20, 46], padding=5)
    assert out.box == [0, 35, 25, 48]
    np.testing.assert_array_equal(out.image.array, array[35:48, 0:25])


def test_crop_of_the_whole_image_is_a_copy() -> None:
    array = gradient_image(8, 6)
    out = run(Crop, image=image(array), box=[0, 0, 8, 6])
    np.testing.assert_array_equal(out.image.array, array)
    assert not np.shares_memory(out.image.array, array)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ([0, 0, 100, 10], "box [0, 0, 100, 10] extends past the 64x48 image; give pixel coordinates inside"),
        ([70, 50, 80, 60], "lies outside the 64x48 image"),
        ([10, 10, 10, 20], "is empty or reversed; give"),
        ([20, 10, 10, 20], "is empty or reversed; give"),
    ],
)
def test_crop_bad_box(box: list[int], expected: str) -> None:
    with pytest.raises(ExpertError) as err:
        run(Crop, image=image(gradient_image()), box=box)
    assert expected in str(err.value)


@pytest.mark.parametrize("box", [[1, 2, 3], [1, 2, 3, 4, 5], [0, 0, 10.5, 10], "0,0,10,10"])
def test_crop_box_must_be_four_integers(box: object) -> None:
    with pytest.raises(ValidationError):
        Crop.Input.model_validate({"image": image(gradient_image()), "box": box})


# --- resize -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "size"),
    [
        ({"width": 32}, [32, 24]),
        ({"height": 96}, [128, 96]),
        ({"width": 10, "height": 30}, [10, 30]),
        ({"scale": 0.5}, [32, 24]),
        ({"scale": 2}, [128, 96]),
        ({"width": 64}, [64, 48]),
    ],
)
def test_resize_sizes(arguments: dict[str, object], size: list[int]) -> None:
    out = run(Resize, image=image(gradient_image(64, 48)), **arguments)
    assert out.size == size
    assert out.image.array.shape == (size[1], size[0], 3)
    assert out.image.array.dtype == np.uint8


def test_resize_keeps_a_flat_color() -> None:
    array = np.full((40, 30, 3), (200, 10, 90), dtype=np.uint8)
    out = run(Resize, image=image(array), scale=1.7)
    assert out.image.array.shape == (68, 51, 3)
    assert np.all(np.abs(out.image.array.astype(int) - (200, 10, 90)) <= 1)


@pytest.mark.parametrize(
    ("size", "arguments", "expected"),
    [
        ((64, 48), {}, "give 'width' and/or 'height' in pixels, or a 'scale'"),
        ((64, 48), {"scale": 2, "width": 10}, "give either 'scale' or 'width'/'height', not both"),
        ((200, 150), {"scale": 64}, "gives 12800x9600; each side must be 1..8192 px"),
        ((64, 48), {"scale": 0.001}, "gives 0x0; each side must be 1..8192 px"),
        (
            (300, 1),
            {"width": 1},
            "the 300x1 image that way gives 1x0; each side must be 1..8192 px, so choose",
        ),
    ],
)
def test_resize_errors(size: tuple[int, int], arguments: dict[str, object], expected: str) -> None:
    with pytest.raises(ExpertError) as err:
        run(Resize, image=image(gradient_image(*size)), **arguments)
    assert expected in str(err.value)


def test_resize_up_to_the_limit() -> None:
    out = run(Resize, image=image(gradient_image(64, 2)), width=8192)
    assert out.size == [8192, 256]


@pytest.mark.parametrize("arguments", [{"width": 0}, {"height": 9000}, {"scale": 0}, {"scale": -1}])
def test_resize_schema_limits(arguments: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Resize.Input.model_validate({"image": image(gradient_image()), **arguments})


# --- draw_boxes ---------------------------------------------------------------------------


def test_draw_boxes_outlines_without_touching_the_input() -> None:
    array = np.zeros((100, 120, 3), dtype=np.uint8)
    out = run(DrawBoxes, image=image(array), boxes=[[10, 20, 50, 60]], width=2)
    drawn = out.image.array
    assert drawn.shape == array.shape and drawn.dtype == np.uint8
    assert not array.any()  # the input is unchanged
    red = [255, 0, 0]
    for y, x in [(20, 10), (21, 11), (59, 49), (58, 48), (40, 10), (20, 30), (59, 30)]:
        assert drawn[y, x].tolist() == red, (y, x)
    for y, x in [(22, 12), (40, 30), (57, 47), (19, 10), (60, 49), (40, 50), (0, 0)]:
        assert drawn[y, x].tolist() == [0, 0, 0], (y, x)
    assert np.count_nonzero(drawn.any(axis=2)) == 40 * 40 - 36 * 36


def test_draw_boxes_labels_and_hex_color() -> None:
    array = np.zeros((100, 200, 3), dtype=np.uint8)
    out = run(
        DrawBoxes, image=image(array), boxes=[[20, 40, 80, 90], [120, 0, 190, 30]], labels=["cat", "dog"]
    )
    plain = run(DrawBoxes, image=image(array), boxes=[[20, 40, 80, 90], [120, 0, 190, 30]])
    changed = np.argwhere((out.image.array != plain.image.array).any(axis=2))
    assert len(changed) > 0
    # the first label sits just above its box, the second (no room above) inside its top edge
    first = changed[changed[:, 1] < 100]
    second = changed[changed[:, 1] >= 100]
    assert first[:, 0].max() < 40 and first[:, 1].min() >= 20
    assert second[:, 0].min() >= 0 and second[:, 1].min() >= 120
    hexed = run(DrawBoxes, image=image(array), boxes=[[0, 0, 10, 10]], color="#00ff80", width=1)
    assert hexed.image.array[0, 5].tolist() == [0, 255, 128]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"boxes": []}, "'boxes' is empty; give at least one box"),
        ({"boxes": [[0, 0, 5, 5]], "labels": ["a", "b"]}, "got 2 labels for 1 boxes; give one label per box"),
        (
            {"boxes": [[0, 0, 5, 5], [600, 400, 700, 500]]},
            "boxes[1] [600, 400, 700, 500] extends past the 640x480 image; give pixel coordinates inside it",
        ),
        ({"boxes": [[5, 5, 1, 1]]}, "boxes[0] [5, 5, 1, 1] is empty or reversed"),
        ({"boxes": [[0, 0, 5, 5]], "color": "sparkly"}, "color 'sparkly' is not a color; use a name like"),
    ],
)
def test_draw_boxes_errors(arguments: dict[str, object], expected: str) -> None:
    array = np.zeros((480, 640, 3), dtype=np.uint8)
    with pytest.raises(ExpertError) as err:
        run(DrawBoxes, image=image(array), **arguments)
    assert expected in str(err.value)


# --- overlay_mask -------------------------------------------------------------------------


def _square_mask(width: int = 64, height: int = 48) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[10:20, 30:50] = True
    return mask


def test_overlay_alpha_one_paints_the_mask_in_the_color() -> None:
    array = gradient_image()
    mask = _square_mask()
    out = run(OverlayMask, image=image(array), mask=MaskData("mask-1", mask), color="lime", alpha=1.0)
    result = out.image.array
    assert result.shape == array.shape and result.dtype == np.uint8
    assert (result[mask] == [0, 255, 0]).all()
    np.testing.assert_array_equal(result[~mask], array[~mask])
    assert out.mask_fraction == round(200 / (64 * 48), 4)


def test_overlay_alpha_blends() -> None:
    array = np.full((48, 64, 3), 100, dtype=np.uint8)
    mask = _square_mask()
    half = run(OverlayMask, image=image(array), mask=MaskData("mask-1", mask), color="#ffffff", alpha=0.5)
    assert (half.image.array[mask] == [178, 178, 178]).all()  # 100 * 0.5 + 255 * 0.5 = 177.5
    none = run(OverlayMask, image=image(array), mask=MaskData("mask-1", mask), alpha=0.0)
    np.testing.assert_array_equal(none.image.array, array)


def test_overlay_size_mismatch_names_both_sizes() -> None:
    with pytest.raises(ExpertError) as err:
        run(OverlayMask, image=image(gradient_image(64, 48)), mask=MaskData("mask-2", _square_mask(32, 24)))
    message = str(err.value)
    assert "mask mask-2 is 32x24 but image image-1 is 64x48" in message
    assert "use a mask made from this image" in message


def test_overlay_bad_color_and_alpha() -> None:
    with pytest.raises(ExpertError, match="use a name like 'red'"):
        run(OverlayMask, image=image(gradient_image()), mask=MaskData("mask-1", _square_mask()), color="#12")
    with pytest.raises(ValidationError):
        OverlayMask.Input.model_validate(
            {"image": image(gradient_image()), "mask": MaskData("mask-1", _square_mask()), "alpha": 1.5}
        )


# --- canny --------------------------------------------------------------------------------


def test_canny_edges_only_around_a_white_square() -> None:
    array = np.zeros((100, 100, 3), dtype=np.uint8)
    array[30:70, 30:70] = 255
    out = run(Canny, image=image(array))
    edges = out.image.array
    assert edges.shape == (100, 100, 3) and edges.dtype == np.uint8
    assert (edges[:, :, 0] == edges[:, :, 1]).all() and (edges[:, :, 0] == edges[:, :, 2]).all()
    assert set(np.unique(edges).tolist()) == {0, 255}
    ys, xs = np.nonzero(edges[:, :, 0])
    near_border = (np.minimum(np.abs(ys - 30), np.abs(ys - 69)) <= 2) & (xs >= 28) & (xs <= 71) | (
        np.minimum(np.abs(xs - 30), np.abs(xs - 69)) <= 2
    ) & (ys >= 28) & (ys <= 71)
    assert near_border.all()
    assert edges[35:65, 35:65].max() == 0 and edges[:25].max() == 0
    assert out.edge_fraction == round(len(ys) / 10000, 4)
    assert 0.01 < out.edge_fraction < 0.05


def test_canny_flat_image_has_no_edges() -> None:
    out = run(
        Canny, image=image(np.full((20, 30, 3), 77, dtype=np.uint8)), low_threshold=10, high_threshold=20
    )
    assert out.edge_fraction == 0.0 and not out.image.array.any()


def test_canny_threshold_errors() -> None:
    with pytest.raises(
        ExpertError, match=r"low_threshold \(150\) must be smaller than high_threshold \(100\)"
    ):
        run(Canny, image=image(gradient_image()), low_threshold=150, high_threshold=100)
    with pytest.raises(ValidationError):
        Canny.Input.model_validate({"image": image(gradient_image()), "high_threshold": 300})


# --- noop ---------------------------------------------------------------------------------


def test_noop_echoes_the_payload() -> None:
    assert run(Noop, payload="ping ✓ 123").echo == "ping ✓ 123"
    assert run(Noop).echo == ""
    assert list(Noop.Output.model_fields) == ["echo"]
