"""Experts land on the nodes their resources ask for, and one task uses experts on two nodes.

The cluster (head + two workers, via ray.cluster_utils.Cluster) runs in a subprocess so it
does not collide with the test session's shared Ray instance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_experts_are_placed_by_node_resources(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.multinode", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"], report["failure"]
    assert report["replicas"]["invert"].endswith("@" + report["node_a"])
    assert report["replicas"]["threshold"].endswith("@" + report["node_b"])
    assert report["placement"]["invert"] == [report["node_a"]]
    assert report["placement"]["threshold"] == [report["node_b"]]
    assert {"image-1", "image-2", "mask-1"} <= set(report["artifacts"])
    # A node_a output fed node_b's next call by reference: 255 - image is bright except rows 4..7.
    assert report["chained"]["output"]["mask"]["area"] == 16 * 16 - 4 * 16
