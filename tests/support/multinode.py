"""Run in a subprocess by tests/test_multinode.py: a 3-node Ray cluster on this machine.

A head plus two worker nodes with different custom resources; two experts placed by those
resources; one task that uses both. Prints one JSON line with what ran where.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np


def main(workdir: str) -> None:
    os.environ["RAY_AUTH_MODE"] = "disabled"
    Path("/tmp/ray").mkdir(exist_ok=True)  # ray.cluster_utils writes /tmp/ray/ray_current_cluster
    from ray.cluster_utils import Cluster

    from llm.scripted import ScriptedChatModel
    from orchestrator import Orchestrator
    from orchestrator.serving.runtime import describe_deployments

    cluster = Cluster(
        initialize_head=True,
        # Unix socket paths must stay short: a private directory directly under /tmp.
        head_node_args={
            "num_cpus": 1,
            "temp_dir": tempfile.mkdtemp(prefix="mmr-mn-", dir="/tmp"),
            "include_dashboard": True,  # the state API (replica placement) needs it
        },
    )
    node_a = cluster.add_node(num_cpus=1, resources={"node_a": 1})
    node_b = cluster.add_node(num_cpus=1, resources={"node_b": 1})
    cluster.wait_for_nodes()
    config = {
        "data_dir": str(Path(workdir) / "data"),
        "experts": {
            "invert": {
                "class": "tests.support.experts:Invert",
                "ray_actor_options": {"num_cpus": 0.1, "resources": {"node_a": 0.01}},
            },
            "threshold": {
                "class": "tests.support.experts:Threshold",
                "ray_actor_options": {"num_cpus": 0.1, "resources": {"node_b": 0.01}},
            },
        },
    }
    script = ScriptedChatModel(
        [
            'Thought: invert it and threshold it\nAction: invert\nAction Input: {"image": "image-1"}\n'
            'Action: threshold\nAction Input: {"image": "image-1", "level": 100}',
            # image-2 was made on node_a; node_b takes it from the object store without the driver
            "Thought: the inverted one too\nAction: threshold\n"
            'Action Input: {"image": "image-2", "level": 100}',
            "Thought: done\nFinal Answer: image-2, mask-1 and mask-2",
        ]
    )
    image = np.zeros((16, 16, 3), np.uint8)
    image[4:8] = 200
    with Orchestrator.connect(cluster.address, config, chat_model=script) as orch:
        result = orch.run("invert and threshold", images=[image])
        placement = {row["expert"]: row["nodes"] for row in describe_deployments(orch.config.ray.app_prefix)}
    print(
        json.dumps(
            {
                "ok": result.ok,
                "failure": result.failure,
                "replicas": {s.tool: s.replica for s in result.steps if s.tool},
                "placement": placement,
                "node_a": node_a.node_id[:8],
                "node_b": node_b.node_id[:8],
                "head": cluster.head_node.node_id[:8],
                "artifacts": sorted(result.artifacts),
                "chained": json.loads(result.steps[2].observation) if len(result.steps) > 2 else None,
            }
        )
    )
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
