"""Dynamic batching: 32 concurrent ``detect`` calls on one replica, with ``@serve.batch`` on vs. off.

Run: ``python bench/batching.py [--requests 32] [--rounds 5] [--image-size 64]``. One embedded Ray,
two Serve apps of the same expert (the tiny random-weight Grounding DINO from
``tests/experts/tiny_detect.py``), one replica each, the same ``ray_actor_options`` and
``max_ongoing_requests``; only ``batching`` differs. Each round puts the requests in flight at
once on a bare ``DeploymentHandle`` (images passed by object reference, as the orchestrator does),
then waits for all of them; rounds alternate between the two apps so drift hits both alike.

Printed: requests/s (median over rounds) for each, and the ratio batched / unbatched (target >= 2x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PHRASES = [["person", "red car"], ["dog"], ["cat", "ball", "tree"], ["sign"]]


def one_round(handle: Any, requests: list[dict[str, Any]]) -> tuple[float, list[Any]]:
    """Send every request at once, wait for all; (seconds, replies)."""
    started = time.perf_counter()
    responses = [handle.remote(arguments) for arguments in requests]
    replies = [response.result() for response in responses]
    return time.perf_counter() - started, replies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=32, help="concurrent calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=64, help="tiny model's input shortest edge")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-wait", type=float, default=0.05, help="batch_wait_timeout_s")
    args = parser.parse_args()

    import numpy as np
    import ray
    from ray import serve

    from experts.deployment import build_expert_app
    from experts.detect import Detect
    from experts.protocol import PixelRef, pixel_content_id
    from tests.experts.tiny_detect import build_tiny_detect

    model_dir = build_tiny_detect(
        Path(tempfile.mkdtemp(prefix="mmr-bench-detect-")), image_size=args.image_size
    )
    ray.init(
        address="local",
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=tempfile.mkdtemp(prefix="mmr-ray-", dir="/tmp"),
        runtime_env={
            "env_vars": {"PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
        },
    )
    serve.start(http_options={"location": "NoServer"}, logging_config={"log_level": "WARNING"})
    common = {
        "settings": {"model": str(model_dir)},
        "num_replicas": 1,
        "ray_actor_options": {"num_cpus": 1},
        "max_ongoing_requests": max(64, args.requests),
    }
    batching = {"max_batch_size": args.max_batch_size, "batch_wait_timeout_s": args.batch_wait}
    handles = {
        "unbatched": serve.run(
            build_expert_app(Detect, deployment_name="detect_unbatched", **common),
            name="detect_unbatched",
            route_prefix=None,
        ),
        "batched": serve.run(
            build_expert_app(Detect, deployment_name="detect_batched", batching=batching, **common),
            name="detect_batched",
            route_prefix=None,
        ),
    }

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]
    pixels = [
        PixelRef(f"image-{i + 1}", "image", pixel_content_id("image", a), ray.put(a))
        for i, a in enumerate(images)
    ]
    requests = [
        {
            "image": pixels[i % 4],
            "phrases": PHRASES[i % len(PHRASES)],
        }
        for i in range(args.requests)
    ]
    rates: dict[str, list[float]] = {name: [] for name in handles}
    try:
        for handle in handles.values():  # warm up: first calls allocate, JIT, fill caches
            _, replies = one_round(handle, requests)
            failed = [r.error for r in replies if not r.ok]
            assert not failed, failed[0]
        for _ in range(args.rounds):
            for name, handle in handles.items():
                seconds, replies = one_round(handle, requests)
                assert all(r.ok for r in replies)
                rates[name].append(args.requests / seconds)
    finally:
        serve.shutdown()
        ray.shutdown()

    print(
        f"\ndynamic batching: {args.requests} concurrent detect calls x {args.rounds} rounds, one replica "
        f"(num_cpus 1), tiny Grounding DINO at {args.image_size}px, 640x480 inputs"
    )
    print(f"batching: max_batch_size={args.max_batch_size}, batch_wait_timeout_s={args.batch_wait}")
    print(f"{'path':<12}{'req/s median':>14}{'min':>9}{'max':>9}")
    for name, values in rates.items():
        print(f"{name:<12}{statistics.median(values):>14.1f}{min(values):>9.1f}{max(values):>9.1f}")
    ratio = statistics.median(rates["batched"]) / statistics.median(rates["unbatched"])
    print(f"\nthroughput ratio batched / unbatched (median): {ratio:.2f}x   (target >= 2x)")


if __name__ == "__main__":
    main()
