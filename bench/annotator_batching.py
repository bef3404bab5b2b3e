"""Annotator batching: N images through one ``run_batch`` vs. N single ``run`` calls, per annotator.

Run: ``python bench/annotator_batching.py [--images 8] [--rounds 3] [--side 256] [--threads 1]``.
Direct expert calls (no Ray), one process, CPU unless ``--device cuda``; the replica calls
``run_batch`` the same way when a deployment sets ``batching``. HED and M-LSD run at their real sizes
(random weights from a safetensors file); depth (DPT) and pose (Grounding DINO + ViTPose) are the
tiny random models of the tests, so their forward passes are small and the gain mostly reflects
per-call overhead. Every image has the same size, so HED and depth batch them all in one pass.
Rounds alternate the two paths; the medians are printed side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.experts.tiny_*


def experts(root: Path, side: int, device: str) -> dict[str, Any]:
    from experts.depth import Depth
    from experts.hed import Hed
    from experts.mlsd import Mlsd
    from experts.pose import Pose
    from tests.experts.tiny_annotators import build_hed_checkpoint, build_mlsd_checkpoint, build_tiny_vitpose
    from tests.experts.tiny_detect import build_tiny_detect
    from tests.experts.tiny_diffusion import build_tiny_depth_estimator

    hed_dir, hed_file = build_hed_checkpoint(root / "hed")
    mlsd_dir, mlsd_file = build_mlsd_checkpoint(root / "mlsd")
    pose = {"model": str(build_tiny_vitpose(root / "vitpose")), "person_threshold": 0.0, "max_people": 4}
    pose["detector_model"] = str(build_tiny_detect(root / "detect"))
    built = {
        "hed": Hed({"model": str(hed_dir), "filename": hed_file, "resolution": side, "device": device}),
        "mlsd": Mlsd({"model": str(mlsd_dir), "filename": mlsd_file, "resolution": side, "device": device}),
        "depth": Depth({"model": str(build_tiny_depth_estimator(root / "dpt")), "device": device}),
        "pose": Pose(pose | {"device": device}),
    }
    for expert in built.values():
        expert.setup()
    return built


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--side", type=int, default=256, help="image size and HED/M-LSD working resolution")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is steadiest when shared)"
    )
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from experts.base import ImageData

    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (args.side, args.side * 4 // 3, 3), dtype=np.uint8) for _ in range(args.images)
    ]
    width = args.side * 4 // 3
    print(f"{args.images} images of {width}x{args.side}, {args.rounds} rounds, device {args.device}")
    print(f"{'expert':8} {'batched':>10} {'one by one':>12} {'ratio':>7}")
    for name, expert in experts(
        Path(tempfile.mkdtemp(prefix="mmr-annotators-")), args.side, args.device
    ).items():
        batch = [
            expert.Input.model_validate({"image": ImageData(f"image-{i}", a)}) for i, a in enumerate(images)
        ]
        expert.run_batch(batch[:2])  # warm up
        together, alone = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            expert.run_batch(batch)
            together.append(time.perf_counter() - start)
            start = time.perf_counter()
            for item in batch:
                expert.run(item)
            alone.append(time.perf_counter() - start)
        batched, single = statistics.median(together), statistics.median(alone)
        print(f"{name:8} {batched * 1000:8.0f}ms {single * 1000:10.0f}ms {single / batched:6.2f}x")


if __name__ == "__main__":
    main()
