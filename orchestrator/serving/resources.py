"""Check what experts ask of the cluster (CPUs, GPUs, memory, custom resources) before deploying them.

A replica must fit on one node. A request no node can ever hold fails at once, saying what is
missing, instead of leaving Serve to wait for it in silence; on a cluster that adds nodes on demand
(``ray.cluster_autoscaler``) it becomes a line saying what the deployment waits for. A request the
nodes can hold but whose resources other work holds now is also a waiting line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import ray

from orchestrator.config import ExpertDeployment
from orchestrator.errors import DeploymentError

__all__ = ["Demand", "check_resources", "demand_of"]

SERVE_DEFAULT_CPUS = 1.0
"""What a replica reserves when its ``ray_actor_options`` name no ``num_cpus`` (Serve's default)."""


@dataclass
class Demand:
    """What one expert asks for: ``replicas`` replicas, each needing ``per_replica``."""

    name: str
    replicas: int
    per_replica: dict[str, float] = field(default_factory=dict)

    def total(self, key: str) -> float:
        return self.replicas * self.per_replica.get(key, 0.0)


def demand_of(name: str, entry: ExpertDeployment) -> Demand:
    """The resources ``entry`` asks for as Ray names them (``CPU``, ``GPU``, ``memory``, custom keys)."""
    options = entry.ray_actor_options
    per: dict[str, float] = {"CPU": float(options.get("num_cpus", SERVE_DEFAULT_CPUS))}
    if options.get("num_gpus"):
        per["GPU"] = float(options["num_gpus"])
    if options.get("memory"):
        per["memory"] = float(options["memory"])
    for key, amount in (options.get("resources") or {}).items():
        per[str(key)] = float(amount)
    if options.get("accelerator_type"):
        per[f"accelerator_type:{options['accelerator_type']}"] = 0.001
    autoscaling = entry.autoscaling_config or {}
    replicas = (
        int(autoscaling.get("initial_replicas") or autoscaling.get("min_replicas", 1))
        if entry.autoscaling_config is not None
        else int(entry.num_replicas or 1)
    )
    return Demand(name, max(replicas, 0), {k: v for k, v in per.items() if v > 0})


def _fits(node: dict[str, float], per_replica: dict[str, float]) -> int:
    """How many replicas of ``per_replica`` a node with these total resources holds."""
    counts = [math.floor(node.get(key, 0.0) / amount + 1e-9) for key, amount in per_replica.items()]
    return min(counts, default=0)


def _amount(key: str, value: float) -> str:
    if key == "memory":
        return f"{value / 2**30:.1f} GiB of memory"
    unit = {"CPU": "CPU", "GPU": "GPU"}.get(key, f"'{key}'")
    return f"{value:g} {unit}{'s' if key in ('CPU', 'GPU') and value != 1 else ''}"


_STANDARD = ("CPU", "GPU", "memory", "object_store_memory")


def _describe_nodes(nodes: list[dict[str, float]]) -> str:
    if not nodes:
        return "no live nodes"
    parts = []
    for node in nodes[:4]:
        shown = [_amount(k, node[k]) for k in ("CPU", "GPU", "memory") if node.get(k)]
        custom = [k for k in node if not k.startswith(("node:", "accelerator_type")) and k not in _STANDARD]
        parts.append(", ".join(shown + [f"'{k}'" for k in sorted(custom)]) or "nothing")
    more = f" and {len(nodes) - 4} more" if len(nodes) > 4 else ""
    return f"{len(nodes)} node(s): " + "; ".join(f"[{p}]" for p in parts) + more


def _shortfall(demand: Demand, nodes: list[dict[str, float]]) -> str | None:
    """Why ``demand`` can never be met by ``nodes`` (their totals), or None."""
    held = sum(_fits(node, demand.per_replica) for node in nodes)
    if held >= demand.replicas:
        return None
    asked = " + ".join(_amount(k, v) for k, v in demand.per_replica.items())
    missing = [
        _amount(k, v)
        for k, v in demand.per_replica.items()
        if not any(node.get(k, 0.0) + 1e-9 >= v for node in nodes)
    ]
    why = (
        f"no node has {' or '.join(missing)}"
        if missing
        else f"the nodes hold {held} such replica(s) in all, not {demand.replicas}"
    )
    return (
        f"expert '{demand.name}' asks for {demand.replicas} replica(s) x ({asked}), but {why} "
        f"(the cluster: {_describe_nodes(nodes)})"
    )


def _waiting(demands: list[Demand], available: dict[str, float]) -> list[str]:
    """What the deployment waits for now: resources the cluster has, but that are in use."""
    keys = sorted({k for d in demands for k in d.per_replica})
    lines = []
    for key in keys:
        needed = sum(d.total(key) for d in demands)
        free = available.get(key, 0.0)
        if needed > free + 1e-9:
            who = ", ".join(
                f"{d.name} {d.replicas} x {d.per_replica[key]:g}" for d in demands if key in d.per_replica
            )
            lines.append(f"waiting for {_amount(key, needed - free)} ({who}; {_amount(key, free)} free now)")
    return lines


def _live_nodes() -> list[dict[str, float]]:
    return [dict(node.get("Resources") or {}) for node in ray.nodes() if node.get("Alive")]


def check_resources(
    entries: dict[str, ExpertDeployment],
    *,
    autoscaler: bool,
    nodes: list[dict[str, float]] | None = None,
    available: dict[str, float] | None = None,
) -> list[str]:
    """Fail with :class:`DeploymentError` when no node can ever hold what ``entries`` ask for (unless
    the cluster autoscales); otherwise return the lines saying what the deployment waits for.

    ``nodes`` (each node's total resources) and ``available`` default to the connected cluster's.
    """
    nodes = _live_nodes() if nodes is None else nodes
    demands = [demand_of(name, entry) for name, entry in entries.items()]
    problems = [p for d in demands if (p := _shortfall(d, nodes))]
    if problems and not autoscaler:
        raise DeploymentError(
            "these experts cannot be placed on this Ray cluster:\n- "
            + "\n- ".join(problems)
            + "\nAsk for less (num_gpus: 0 runs an expert on CPUs; fewer replicas), join a cluster that "
            "has it (ray.address / RAY_ADDRESS), or set ray.cluster_autoscaler: true if the cluster adds "
            "nodes on demand."
        )
    free = dict(ray.available_resources()) if available is None else available
    return [f"{p}; waiting for the autoscaler to add a node" for p in problems] + _waiting(demands, free)
