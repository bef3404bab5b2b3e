"""The agent loop inside a Serve replica (as the HTTP service runs it) under concurrent runs: every
image a replica made is saved, none lost to Ray's reference counting.

Ray frees an object a replica put, and nested in its reply, as soon as the call returns when the
caller is an actor, before the caller has read it (``ReferenceCountingAssertionError``; the driver is
not affected). Before the fix this test failed (images whose background save hit that error; the
service load benchmark saw 13 failed tasks of 192); now a loop inside an actor asks for new pixels
inline. The images are over Ray's 100 KiB inline limit, so they live in the object store.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from ray import serve

pytestmark = pytest.mark.ray

RUNS = 40
PLAN = [  # three new images per run, each over Ray's 100 KiB inline limit (so in the object store);
    # draw_boxes reads the crop by the reference the run holds
    {"id": 0, "tool": "crop", "arguments": {"image": "image-1", "box": [4, 4, 300, 200]}},
    {"id": 1, "tool": "resize", "arguments": {"image": "image-1", "width": 300, "height": 220}},
    {
        "id": 2,
        "tool": "draw_boxes",
        "arguments": {"image": "<step-0>", "boxes": [[2, 2, 20, 20]], "labels": ["x"]},
        "dependencies": [0],
    },
]


@serve.deployment(max_ongoing_requests=2, ray_actor_options={"num_cpus": 0})
class LoopHost:
    """An ingress-like replica: an orchestrator attached to the test experts, running plans in threads."""

    def __init__(self, config: dict[str, Any]) -> None:
        from orchestrator.config import load_config
        from orchestrator.service.host import attach_orchestrator

        self.orch = attach_orchestrator(load_config(config))

    def run_plans(self, runs: int) -> dict[str, Any]:
        def one(number: int) -> tuple[str, str | None, int]:
            picture = np.random.default_rng(number).integers(0, 256, (240, 320, 3), dtype=np.uint8)
            result = self.orch.run_plan(PLAN, images=[picture], session=f"refs-{number}")
            if result.status != "answered":
                return result.status, result.failure, 0
            saved = sum(1 for a in result.artifacts.values() if a.kind == "image" and a.load() is not None)
            return result.status, result.failure, saved

        with ThreadPoolExecutor(16) as pool:
            outcomes = list(pool.map(one, range(runs)))
        from orchestrator.agent.pixels import inside_actor

        return {"outcomes": outcomes, "inline": inside_actor()}


def test_images_made_for_a_loop_inside_a_replica_are_all_saved(orch):
    config = orch.config.model_dump(mode="json", by_alias=True)
    handle = serve.run(LoopHost.bind(config), name="test-refs-loop", route_prefix=None)
    try:
        report = handle.run_plans.remote(RUNS).result(timeout_s=600)
    finally:
        serve.delete("test-refs-loop")
    assert report["inline"] is True
    failed = [(status, failure) for status, failure, _ in report["outcomes"] if status != "answered"]
    assert not failed, f"{len(failed)} of {RUNS} runs failed, e.g. {failed[0]}"
    assert all(saved == 4 for _, _, saved in report["outcomes"])  # the input and three new images
