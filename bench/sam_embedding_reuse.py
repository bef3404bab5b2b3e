"""SAM embedding reuse: N prompts on one image with the cached embedding vs. recomputing it each time.

Run: ``python bench/sam_embedding_reuse.py [--prompts 8] [--rounds 5] [--image-size 256] [--threads 1]``.
Direct expert calls (no Ray), one process, CPU unless ``--device cuda``. The model is a random
SAM built from a config (no weights needed): ``--image-size`` input pixels, ViT width
``--hidden``, ``--layers`` encoder layers, ``--channels`` embedding/decoder width (the real
``sam-vit-base`` is 1024 px, width 768, 12 layers, 256 channels, so its encoder outweighs
its decoder far more than here: the real gain is larger). Rounds alternate the paths:

- reuse:      N calls of one point each, embedding cache on (1 encoder pass + N decoder passes)
- recompute:  the same N calls with ``embedding_cache_mb: 0`` (N encoder + N decoder passes)
- one call:   the N prompts as N boxes in one call (1 encoder pass + 1 decoder pass)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.experts.tiny_segment


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=256, help="model input side (pixels)")
    parser.add_argument("--hidden", type=int, default=128, help="vision encoder width")
    parser.add_argument("--layers", type=int, default=4, help="vision encoder layers")
    parser.add_argument("--channels", type=int, default=64, help="embedding / mask decoder width")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared machine)"
    )
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)

    from experts.base import ImageData
    from experts.segment import Segment
    from tests.experts.tiny_segment import build_tiny_segment

    directory = build_tiny_segment(
        Path(tempfile.mkdtemp(prefix="mmr-sam-bench-")) / "sam",
        image_size=args.image_size,
        hidden_size=args.hidden,
        layers=args.layers,
        channels=args.channels,
    )
    options = {"model": str(directory), "device": args.device}
    reuse = Segment(options)
    recompute = Segment(options | {"embedding_cache_mb": 0})
    reuse.setup()
    recompute.setup()

    rng = np.random.default_rng(0)
    width, height = 640, 480
    image = ImageData("image-1", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    points = [
        [int(x), int(y)]
        for x, y in zip(
            rng.integers(0, width, args.prompts), rng.integers(0, height, args.prompts), strict=True
        )
    ]
    boxes = [[max(x - 40, 0), max(y - 40, 0), min(x + 40, width), min(y + 40, height)] for x, y in points]

    def clock() -> tuple[float, float]:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter(), time.process_time()

    def since(start: tuple[float, float]) -> tuple[float, float]:
        end = clock()
        return end[0] - start[0], end[1] - start[1]

    def sequential(expert: Segment) -> tuple[tuple[float, float], list[bool]]:
        start = clock()
        cached = [
            expert.run(Segment.Input.model_validate({"image": image, "points": [point]})).embedding_cached
            for point in points
        ]
        return since(start), cached

    def one_call() -> tuple[float, float]:
        reuse.cache = type(reuse.cache)(reuse.cache.max_bytes)
        start = clock()
        out = reuse.run(Segment.Input.model_validate({"image": image, "boxes": boxes}))
        assert len(out.masks) == args.prompts and not out.embedding_cached
        return since(start)

    sequential(reuse), sequential(recompute), one_call()  # warm up
    times: dict[str, list[tuple[float, float]]] = {"reuse": [], "recompute": [], "one call": []}
    for _ in range(args.rounds):
        reuse.cache = type(reuse.cache)(reuse.cache.max_bytes)  # start each round uncached
        seconds, cached = sequential(reuse)
        assert cached == [False] + [True] * (args.prompts - 1), cached
        times["reuse"].append(seconds)
        seconds, cached = sequential(recompute)
        assert not any(cached)
        times["recompute"].append(seconds)
        times["one call"].append(one_call())

    encoder_params = sum(p.numel() for p in reuse.backend.model.vision_encoder.parameters())
    print(
        f"SAM embedding reuse: {args.prompts} prompts on one {width}x{height} image, {args.rounds} rounds, "
        f"device {args.device}, torch threads {torch.get_num_threads()}\n"
        f"model: random SAM, {args.image_size} px input, encoder width {args.hidden} x {args.layers} layers "
        f"({encoder_params / 1e6:.2f} M params), {args.channels} embedding channels"
    )

    def median(key: str, which: int) -> float:
        return statistics.median(t[which] for t in times[key])

    print("wall = elapsed time; cpu = this process's CPU time (all threads), steadier on a shared machine")
    print(f"{'path':<28}{'wall (median)':>15}{'per prompt':>12}{'vs reuse':>10}{'cpu':>12}{'vs reuse':>10}")
    labels = {
        "reuse": "reuse (cached embedding)",
        "recompute": "recompute every prompt",
        "one call": f"one call, {args.prompts} boxes",
    }
    for key, label in labels.items():
        wall, cpu = median(key, 0), median(key, 1)
        print(
            f"{label:<28}{wall * 1e3:>12.1f} ms{wall / args.prompts * 1e3:>9.1f} ms"
            f"{wall / median('reuse', 0):>9.2f}x{cpu * 1e3:>9.1f} ms{cpu / median('reuse', 1):>9.2f}x"
        )
    print(
        f"recompute / reuse = {median('recompute', 0) / median('reuse', 0):.2f}x wall, "
        f"{median('recompute', 1) / median('reuse', 1):.2f}x cpu"
    )


if __name__ == "__main__":
    main()
