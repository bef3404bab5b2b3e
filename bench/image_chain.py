"""Image chain: resize -> canny on a 2048x2048 image, step 1's output image feeding step 2.

Run: ``python bench/image_chain.py [--size 2048] [--scale 0.75] [--rounds 5]``. One embedded Ray,
one ``resize`` and one ``canny`` deployment; rounds alternate between the paths so drift hits all
alike, and every chain gets fresh pixels (the store is content-addressed: a repeated image would
skip its write). Printed per chain (p50 / p95), side by side:

- driver round trip: the path before the typed wire, replayed on today's replicas — step 1's output
  is fetched to the driver, PNG-encoded into the artifact store, put into the object store again,
  then step 2 is called; step 2's output is fetched and stored the same way
- object-store hop: step 1's reference goes straight to step 2 (the replica put the pixels there);
  the artifact writer saves both outputs in the background, and the chain ends when both are saved
- sdk run_plan: the two steps through ``Orchestrator.run_plan`` (plan_wave, act, observe, SQLite
  checkpoints, input stored first); ``--sdk-only`` measures just this, e.g. on an older commit

``hop`` is step 1's reply to step 2's dispatch (bare paths) or step 1's dispatch to step 2's
dispatch (sdk: includes resize itself, observe, the next wave and a checkpoint).
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def photo_like(size: int, seed: int) -> Any:
    """Smooth gradients, flat shapes and mild noise: compresses like a photo, not like pure noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    image = np.stack([xs * 200, ys * 180, (xs + ys) * 90], axis=2)
    for _ in range(24):
        x0, y0 = rng.integers(0, size - size // 8, 2)
        w, h = rng.integers(size // 32, size // 8, 2)
        image[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 255, 3)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def bare_chains(orch: Any, image: Any, scale: float, round_trip: bool) -> tuple[float, float]:
    """One resize -> canny chain on the deployments directly; (chain seconds, hop seconds)."""
    import ray

    from experts.protocol import PixelRef, pixel_content_id
    from orchestrator.agent.pixels import ArtifactWriter

    resize = orch.runtime.catalogue.get("resize").handle
    canny = orch.runtime.catalogue.get("canny").handle
    source = PixelRef("image-1", "image", pixel_content_id("image", image), ray.put(image))
    writer = ArtifactWriter(orch.store)
    started = time.perf_counter()
    first = resize.remote({"image": source, "scale": scale}).result()
    replied = time.perf_counter()
    (made,) = first.artifacts
    if round_trip:
        array = ray.get(made.ref)  # the output comes back to the driver,
        orch.store.put("image", array)  # is PNG-encoded into the store,
        ref = ray.put(array)  # and is put into the object store again
    else:
        writer.submit("image", made.content_id, made.ref)
        ref = made.ref
    response = canny.remote({"image": PixelRef("image-2", "image", made.content_id, ref)})
    dispatched = time.perf_counter()
    (edges,) = response.result().artifacts
    if round_trip:
        orch.store.put("image", ray.get(edges.ref))
    else:
        writer.submit("image", edges.content_id, edges.ref)
        failures = writer.flush()
        assert not failures, failures
    finished = time.perf_counter()
    writer.close()
    return finished - started, dispatched - replied


def sdk_chain(orch: Any, image: Any, scale: float) -> tuple[float, float]:
    """The same chain through run_plan; (wall seconds, step 1 dispatch -> step 2 dispatch)."""
    plan = [
        {"id": 1, "tool": "resize", "arguments": {"image": "image-1", "scale": scale}},
        {"id": 2, "tool": "canny", "arguments": {"image": "<step-1>"}, "dependencies": [1]},
    ]
    started = time.perf_counter()
    result = orch.run_plan(plan, images=[image])
    elapsed = time.perf_counter() - started
    assert result.ok, result.failure
    first, second = [s for s in result.steps if s.tool]
    return elapsed, second.started_at - first.started_at


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--scale", type=float, default=0.75, help="resize factor of step 1")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sdk-only", action="store_true", help="only the run_plan path")
    args = parser.parse_args()

    from orchestrator import Orchestrator

    config = {
        "data_dir": tempfile.mkdtemp(prefix="mmr-bench-"),
        "checkpointer": "sqlite",
        "experts": {"resize": {}, "canny": {}},
    }
    paths = ["sdk run_plan"] if args.sdk_only else ["driver round trip", "object-store hop", "sdk run_plan"]
    chains: dict[str, list[float]] = {p: [] for p in paths}
    hops: dict[str, list[float]] = {p: [] for p in paths}
    seed = 0
    with Orchestrator.local(config) as orch:
        for warm in range(2):  # first calls import, allocate and fill caches
            sdk_chain(orch, photo_like(256, 10_000 + warm), args.scale)
            if not args.sdk_only:
                bare_chains(orch, photo_like(256, 20_000 + warm), args.scale, round_trip=bool(warm))
        for _ in range(args.rounds):
            for path in paths:
                seed += 1
                image = photo_like(args.size, seed)
                if path == "sdk run_plan":
                    chain, hop = sdk_chain(orch, image, args.scale)
                else:
                    chain, hop = bare_chains(orch, image, args.scale, round_trip=path == "driver round trip")
                chains[path].append(chain)
                hops[path].append(hop)

    out = round(args.size * args.scale)
    print(f"\nimage chain: resize {args.size}x{args.size} -> {out}x{out}, then canny; {args.rounds} rounds")
    print(f"{'path':<22}{'chain p50 ms':>14}{'p95 ms':>9}{'hop p50 ms':>12}{'p95 ms':>9}")
    for path in paths:
        c50, c95 = percentile(chains[path], 0.5) * 1e3, percentile(chains[path], 0.95) * 1e3
        h50, h95 = percentile(hops[path], 0.5) * 1e3, percentile(hops[path], 0.95) * 1e3
        print(f"{path:<22}{c50:>14.1f}{c95:>9.1f}{h50:>12.1f}{h95:>9.1f}")
    if not args.sdk_only:
        before, after = "driver round trip", "object-store hop"
        ratio_chain = statistics.median(chains[before]) / statistics.median(chains[after])
        ratio_hop = statistics.median(hops[before]) / statistics.median(hops[after])
        print(f"\nround trip / object-store hop (p50): chain {ratio_chain:.2f}x, hop {ratio_hop:.1f}x")


if __name__ == "__main__":
    main()
