"""Streaming latency: from ``orch.stream()`` to the first event, the first thought and the first tool start.

Run: ``python bench/stream_first_event.py [--runs 20]``. One embedded Ray, the ``noop`` expert, a
scripted controller (no LLM latency), so the figures are the orchestrator's own overhead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    import numpy as np

    from llm.scripted import ScriptedChatModel
    from orchestrator import Orchestrator

    config = {
        "data_dir": tempfile.mkdtemp(prefix="mmr-bench-"),
        "experts": {"noop": {"max_ongoing_requests": 16}},
    }
    image = np.zeros((256, 256, 3), np.uint8)
    firsts: dict[str, list[float]] = {"start": [], "thought": [], "tool_start": [], "end": []}
    with Orchestrator.local(config) as orch:
        for i in range(args.runs + 2):
            script = ScriptedChatModel(
                ['Thought: go\nAction: noop\nAction Input: {"payload": "x"}', "Final Answer: ok"]
            )
            started = time.perf_counter()
            seen: dict[str, float] = {}
            for event in orch.stream("echo", images=[image], chat_model=script):
                seen.setdefault(event.type, time.perf_counter() - started)
            if i >= 2:  # two warm-up runs
                for kind in firsts:
                    firsts[kind].append(seen[kind])
    print(f"\nstream latency over {args.runs} runs (median / p95, ms), 256x256 input image")
    for kind, values in firsts.items():
        values.sort()
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(f"first {kind:<11} {statistics.median(values) * 1e3:8.2f} {p95 * 1e3:8.2f}")


if __name__ == "__main__":
    main()
