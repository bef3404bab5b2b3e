"""segment_all: the point grid decoded in batches over one embedding vs. one point per decoder pass.

Run: ``python bench/segment_all_points.py [--side 16] [--rounds 3] [--image-size 256] [--threads 1]``.
Direct expert calls (no Ray), one process, CPU unless ``--device cuda``. The model is a random SAM
built from a config (``tests/experts/tiny_segment_all.py``: its heads are scaled so candidates pass
the filters); ``--image-size`` input pixels, ``--channels`` decoder width. Both paths reuse the cached
embedding (the encoder runs once, before the rounds), so the times are the decoder, the filters and
the mask NMS only. Rounds alternate the paths:

- batched:  ``points_per_batch`` = 64 (SAM's default)
- single:   ``points_per_batch`` = 1 (what a loop over point prompts does)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.experts.tiny_segment_all


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--side", type=int, default=16, help="points per side of the grid")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=256, help="model input side (pixels)")
    parser.add_argument("--channels", type=int, default=64, help="embedding / mask decoder width")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)

    from experts.base import ImageData
    from experts.segment_all import SegmentAll
    from tests.experts.tiny_segment import build_tiny_segment
    from tests.experts.tiny_segment_all import confident_heads

    directory = Path(tempfile.mkdtemp(prefix="mmr-amg-bench-")) / "sam"
    build_tiny_segment(directory, image_size=args.image_size, channels=args.channels)
    confident_heads(directory)
    options = {
        "model": str(directory),
        "device": args.device,
        "points_per_side": args.side,
        "stability_score_thresh": 0.8,
    }
    experts = {"batched": SegmentAll(options | {"points_per_batch": 64})}
    experts["batched"].setup()
    experts["single"] = SegmentAll(options | {"points_per_batch": 1})
    experts["single"].sam, experts["single"].cache = experts["batched"].sam, experts["batched"].cache
    array = np.random.default_rng(0).integers(0, 256, (args.image_size, args.image_size, 3), dtype=np.uint8)
    inputs = SegmentAll.Input(image=ImageData("image-1", array))
    experts["batched"].run(inputs)  # warm up and fill the embedding cache
    times: dict[str, list[float]] = {name: [] for name in experts}
    found: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, expert in experts.items():
            started = time.perf_counter()
            out = expert.run(inputs)
            times[name].append(time.perf_counter() - started)
            found[name] = out.found
    batched, single = statistics.median(times["batched"]), statistics.median(times["single"])
    points = args.side**2
    print(f"{points} grid points, {args.image_size}px input, {args.channels} channels, device {args.device}")
    print(f"batched (64 per pass): {batched * 1000:8.1f} ms   masks found {found['batched']}")
    print(f"single  (1 per pass):  {single * 1000:8.1f} ms   masks found {found['single']}")
    print(f"single / batched: {single / batched:.1f}x")


if __name__ == "__main__":
    main()
