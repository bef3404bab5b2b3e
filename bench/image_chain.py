"""Image chain: resize -> canny on a 2048x2048 image, each step's output image feeding the next.

Run: ``python bench/image_chain.py [--size 2048] [--scale 0.75] [--steps 2] [--rounds 5]``. One
embedded Ray, one ``resize`` and one ``canny`` deployment; ``--steps 4`` chains resize, canny,
resize, canny. Rounds alternate between the paths so drift hits all alike, and every chain gets
fresh pixels (the store is content-addressed: a repeated image would skip its write). Printed per
chain (p50 / p95), side by side:

- driver round trip: the path before the typed wire, replayed on today's replicas -- each output
  is fetched to the driver, PNG-encoded into the artifact store and put into the object store
  again before the next call
- object-store hop: each output's reference goes straight to the next call (the replica put the
  pixels there); the artifact writer saves the outputs in the background, and the chain ends when
  all are saved
- sdk run_plan: the chain through ``Orchestrator.run_plan`` (plan_wave, act, observe, SQLite
  checkpoints; the input image is stored first); ``--sdk-only`` measures just this, e.g. on an
  older commit

``hop`` (median over the chain's hops) is a step's reply to the next step's dispatch on the bare
paths, and a step's dispatch to the next one's in the sdk (so it includes the step itself, observe,
the next wave and a checkpoint).
"""

from __future__ import annotations

import argparse
import itertools
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


def chain_calls(steps: int, scale: float) -> list[tuple[str, dict[str, Any]]]:
    """resize, canny, resize, canny, ... (``steps`` calls), each on the previous step's image."""
    return [("resize", {"scale": scale}) if i % 2 == 0 else ("canny", {}) for i in range(steps)]


def bare_chains(
    orch: Any, image: Any, calls: list[tuple[str, dict[str, Any]]], round_trip: bool
) -> tuple[float, float]:
    """One chain on the deployments directly; (chain seconds, median hop seconds)."""
    import ray

    from experts.protocol import PixelRef, pixel_content_id
    from orchestrator.agent.pixels import ArtifactWriter

    writer = ArtifactWriter(orch.store)
    pixels = PixelRef("image-1", "image", pixel_content_id("image", image), ray.put(image))
    hops = []
    started = time.perf_counter()
    replied = None
    for i, (tool, arguments) in enumerate(calls):
        response = orch.runtime.catalogue.get(tool).handle.remote({"image": pixels, **arguments})
        if replied is not None:
            hops.append(time.perf_counter() - replied)
        (made,) = response.result().artifacts
        replied = time.perf_counter()
        if round_trip:
            array = ray.get(made.ref)  # the output comes back to the driver,
            orch.store.put("image", array)  # is PNG-encoded into the store,
            ref = ray.put(array) if i < len(calls) - 1 else None  # and is put into the object store again
        else:
            writer.submit("image", made.content_id, made.ref)
            ref = made.ref
        pixels = PixelRef(f"image-{i + 2}", "image", made.content_id, ref)
    failures = writer.flush()
    assert not failures, failures
    finished = time.perf_counter()
    writer.close()
    return finished - started, statistics.median(hops)


def sdk_chain(orch: Any, image: Any, calls: list[tuple[str, dict[str, Any]]]) -> tuple[float, float]:
    """The same chain through run_plan; (wall seconds, median step dispatch -> next step dispatch)."""
    plan = [
        {
            "id": i + 1,
            "tool": tool,
            "arguments": {"image": f"<step-{i}>" if i else "image-1", **arguments},
            "dependencies": [i] if i else [],
        }
        for i, (tool, arguments) in enumerate(calls)
    ]
    started = time.perf_counter()
    result = orch.run_plan(plan, images=[image])
    elapsed = time.perf_counter() - started
    assert result.ok, result.failure
    steps = [s for s in result.steps if s.tool]
    return elapsed, statistics.median(b.started_at - a.started_at for a, b in itertools.pairwise(steps))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--scale", type=float, default=0.75, help="resize factor of step 1")
    parser.add_argument("--steps", type=int, default=2, help="chain length: resize, canny, resize, ...")
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
    calls = chain_calls(max(2, args.steps), args.scale)
    seed = 0
    with Orchestrator.local(config) as orch:
        for warm in range(2):  # first calls import, allocate and fill caches
            sdk_chain(orch, photo_like(256, 10_000 + warm), calls)
            if not args.sdk_only:
                bare_chains(orch, photo_like(256, 20_000 + warm), calls, round_trip=bool(warm))
        for _ in range(args.rounds):
            for path in paths:
                seed += 1
                image = photo_like(args.size, seed)
                if path == "sdk run_plan":
                    chain, hop = sdk_chain(orch, image, calls)
                else:
                    chain, hop = bare_chains(orch, image, calls, round_trip=path == "driver round trip")
                chains[path].append(chain)
                hops[path].append(hop)

    names = " -> ".join(tool for tool, _ in calls)
    print(f"\nimage chain on a {args.size}x{args.size} image: {names} (resize x{args.scale})")
    print(f"{args.rounds} rounds")
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
