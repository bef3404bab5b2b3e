"""How an expert is deployed when its config entry does not say: the one place these defaults live.

Read by the config model (``orchestrator.config.ExpertDeployment``), ``Orchestrator.add_expert``
and the Serve builder (``experts.deployment``); the shipped YAML files only state what differs.
Ray-free and dependency-free, so both sides can import it.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "BATCH_WAIT_TIMEOUT_S",
    "HEALTH_CHECK_PERIOD_S",
    "MAX_BATCH_SIZE",
    "MAX_ONGOING_REQUESTS",
    "NUM_CPUS",
    "NUM_REPLICAS",
    "STUCK_GRACE_S",
    "TIMEOUT_S",
    "ray_actor_options",
]

NUM_REPLICAS: Final = 1
NUM_CPUS: Final = 0.1
"""CPUs reserved per replica: light image ops need little; model experts set their own."""
MAX_ONGOING_REQUESTS: Final = 16
"""Always explicit: Serve's own default (5) makes many concurrent calls queue."""
TIMEOUT_S: Final = 60.0
"""Seconds the orchestrator waits for one call before it becomes a timeout observation."""
MAX_BATCH_SIZE: Final = 8
"""With ``batching`` on: the most concurrent calls one ``run_batch`` receives."""
BATCH_WAIT_TIMEOUT_S: Final = 0.01
"""With ``batching`` on: how long a replica waits for a batch to fill."""
STUCK_GRACE_S: Final = 5.0
"""A call still running this long after its ``timeout_s`` is stuck: its replica reports itself
unhealthy and Serve replaces it (a thread cannot be stopped any other way)."""
HEALTH_CHECK_PERIOD_S: Final = 5.0
"""How often Serve asks each replica whether it is healthy (``check_health``)."""


def ray_actor_options() -> dict[str, Any]:
    """The default ``ray_actor_options`` of a replica (a fresh dict each call)."""
    return {"num_cpus": NUM_CPUS}
