"""Prometheus metrics of one ingress replica: tasks, their latencies, expert calls and errors, refusals.

They live in the replica's own registry and are served at ``/metrics`` (Ray Serve exports its own
request metrics through Ray's metrics port, beside these).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from orchestrator.events import Event

__all__ = ["ServiceMetrics"]

_TASK_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServiceMetrics:
    """The counters, gauges and histograms one replica updates as its tasks run."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tasks = Counter("mmr_tasks", "Tasks that ended, by status", ["status"], registry=self.registry)
        self.running = Gauge("mmr_tasks_running", "Tasks running in this replica now", registry=self.registry)
        self.task_seconds = Histogram(
            "mmr_task_seconds",
            "Seconds from a task's start to its end",
            buckets=_TASK_BUCKETS,
            registry=self.registry,
        )
        self.calls = Counter(
            "mmr_expert_calls", "Expert calls, by expert", ["expert"], registry=self.registry
        )
        self.errors = Counter(
            "mmr_expert_errors",
            "Failed expert calls, by expert and kind",
            ["expert", "kind"],
            registry=self.registry,
        )
        self.call_seconds = Histogram(
            "mmr_expert_call_seconds",
            "Seconds per expert call",
            ["expert"],
            buckets=_CALL_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(
            "mmr_requests_refused", "Requests refused, by HTTP status", ["status"], registry=self.registry
        )

    def observe(self, event: Event) -> None:
        """Count what an event of a running task says."""
        if event.type == "tool_end":
            self.calls.labels(event.tool).inc()
            self.call_seconds.labels(event.tool).observe(event.seconds)
            if event.error:
                self.errors.labels(event.tool, event.error_type or "unknown").inc()
        elif event.type == "end":
            self.tasks.labels(event.result.status).inc()
            self.task_seconds.observe(event.result.seconds)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
