"""OCR speed: seconds per image for the default settings side by side with the slower alternatives.

Run: ``python bench/ocr_speed.py [--rounds 5] [--threads 1]``. Direct expert calls (no Ray), one
process, the real RapidOCR models (they ship in its wheel). Two rendered images: a 640x240 sign
(three lines) and a 1600x1200 page (twelve lines), so the detection size limit matters. Settings,
measured in alternating rounds after one warm-up call each:

- default:      limit_type max, limit_side_len 960, no angle classifier (``Ocr.Settings()``)
- side 1280:    the default with limit_side_len 1280 (less downscaling of large images)
- with cls:     the default with the 180-degree text orientation classifier on

Prints the median seconds per image, the ratio to the default, and how many lines were read
exactly (speed is only worth having where the reading stays right).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIGN = ["OPEN 9AM - 5PM", "FRESH BREAD", "CAKES 3 EUR"]
PAGE = [f"LINE {i + 1}: DELIVERY TO GATE {7 * i + 3}" for i in range(12)]


def render(lines: list[str], width: int, height: int, size: int):
    """Dark text on a pale background, one line per row."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.new("RGB", (width, height), (250, 240, 200))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=size)
    step = (height - 40) // len(lines)
    for i, text in enumerate(lines):
        draw.text((40, 20 + i * step), text, fill=(20, 30, 120), font=font)
    return np.asarray(canvas)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1, help="onnxruntime threads per model (1 is steadiest when shared)"
    )
    args = parser.parse_args()

    from experts.base import ImageData
    from experts.ocr import Ocr

    images = {
        "sign 640x240": (render(SIGN, 640, 240, 40), SIGN),
        "page 1600x1200": (render(PAGE, 1600, 1200, 44), PAGE),
    }
    variants = {
        "default": {},
        "side 1280": {"limit_side_len": 1280},
        "with cls": {"use_cls": True},
    }
    experts = {}
    for name, options in variants.items():
        expert = Ocr({**options, "num_threads": args.threads})
        expert.setup()
        experts[name] = expert
    seconds: dict[tuple[str, str], list[float]] = {}
    right: dict[tuple[str, str], int] = {}
    for image_name, (array, lines) in images.items():
        inputs = Ocr.Input.model_validate({"image": ImageData("image-1", array)})
        for name, expert in experts.items():  # warm-up, and the reading check
            read = [item["text"] for item in expert.run(inputs).lines.items]
            right[(image_name, name)] = sum(line in read for line in lines)
        for _ in range(args.rounds):
            for name, expert in experts.items():
                started = time.perf_counter()
                expert.run(inputs)
                seconds.setdefault((image_name, name), []).append(time.perf_counter() - started)

    print(f"OCR seconds per image (median of {args.rounds}, {args.threads} thread(s) per model)")
    print(f"{'image':<16}" + "".join(f"{name:>26}" for name in variants))
    for image_name in images:
        base = statistics.median(seconds[(image_name, "default")])
        cells = []
        for name in variants:
            median = statistics.median(seconds[(image_name, name)])
            read = f"{right[(image_name, name)]}/{len(images[image_name][1])} read"
            cells.append(f"{median:6.3f} s {median / base:4.2f}x {read}")
        print(f"{image_name:<16}" + "".join(f"{cell:>26}" for cell in cells))


if __name__ == "__main__":
    main()
