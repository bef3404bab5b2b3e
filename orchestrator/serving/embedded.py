"""Start the embedded Ray of ``Orchestrator.local()``: on 127.0.0.1 only, without the orchestrator's secrets.

Every process of an embedded Ray (GCS, raylet, agents, the driver, Serve's controller, the replicas)
listens on the loopback interface, so nothing on the network reaches it. Ray picks a node's address
itself and, on Linux, turns 127.0.0.1 into the machine's network address; the loopback choice is
made the way Ray makes it on machines where it never clusters, for this start only. The replicas'
own gRPC server is kept on loopback by the replica (``experts/deployment.py``).

Ray's processes inherit the environment of the process that starts them, and every worker (expert
replicas included) inherits theirs: the variables in :data:`redaction.SECRET_ENV_VARS` are taken out
while Ray starts, so expert code never sees the controller's key. The SDK has read them already.
A joined cluster is left exactly as it is: its addresses, its auth mode, its workers' environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import ray
from ray._private import ray_constants

from redaction import SECRET_ENV_VARS

__all__ = ["LOOPBACK", "init_embedded", "without_env"]

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def without_env(names: tuple[str, ...]) -> Iterator[None]:
    """Take ``names`` out of ``os.environ`` for the block (processes started in it never see them)."""
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@contextlib.contextmanager
def _node_address_on_loopback() -> Iterator[None]:
    """Ray's node address is 127.0.0.1 for the block (``ray.init`` resolves it in there).

    Ray (``ray._private.services.get_node_ip_address``) answers 127.0.0.1 where clustering is off
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``); that switch is read once at import, so its value is set
    here for the start only. A node on 127.0.0.1 makes Ray bind its servers to 127.0.0.1.
    """
    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def init_embedded(**kwargs: Any) -> None:
    """``ray.init(address="local", …)`` listening on 127.0.0.1, its workers without the secrets."""
    with without_env(SECRET_ENV_VARS), _node_address_on_loopback():
        ray.init(address="local", **kwargs)
    address = ray.util.get_node_ip_address()
    if address != LOOPBACK:  # a Ray release that resolves addresses differently
        log.warning("the embedded Ray runs on %s, not %s: the network may reach it", address, LOOPBACK)
