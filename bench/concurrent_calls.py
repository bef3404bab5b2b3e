"""Independent calls in one controller turn run concurrently.

Run: ``python bench/concurrent_calls.py``. One embedded Ray; a ``sleepy`` expert that takes 0.5 s
per call, deployed with 4 replicas. Compares, through the SDK, one turn with ONE call against one
turn with FOUR independent calls (same expert), several rounds, and prints the ratio of the
tool-phase wall times. Target: four calls <= 1.3x one call.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support.experts


def tool_phase(result) -> float:
    """Wall time from the first call's start to the last call's end."""
    calls = [s for s in result.steps if s.tool]
    return max(s.started_at + s.seconds for s in calls) - min(s.started_at for s in calls)


def main(rounds: int = 5, seconds: float = 0.5, fan_out: int = 4) -> None:
    from llm.scripted import ScriptedChatModel
    from orchestrator import Orchestrator

    config = {
        "data_dir": tempfile.mkdtemp(prefix="mmr-bench-"),
        "experts": {
            "sleepy": {
                "class": "tests.support.experts:Sleepy",
                "num_replicas": fan_out,
                "max_ongoing_requests": 4,
                "ray_actor_options": {"num_cpus": 0.1},
            }
        },
        "ray": {"num_cpus": 4},
    }
    call = f'Action: sleepy\nAction Input: {{"seconds": {seconds}}}'
    single, many = [], []
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # replicas import tests.support
    with Orchestrator.local(config) as orch:
        for i in range(rounds + 1):
            one = orch.run(
                "wait once", chat_model=ScriptedChatModel([f"Thought: one\n{call}", "Final Answer: ok"])
            )
            turn = "Thought: four at once\n" + "\n".join([call] * fan_out)
            four = orch.run("wait four times", chat_model=ScriptedChatModel([turn, "Final Answer: ok"]))
            assert one.ok and four.ok and len(four.steps) == fan_out + 1
            if i:  # the first round warms up
                single.append(tool_phase(one))
                many.append(tool_phase(four))
    one_s, four_s = statistics.median(single), statistics.median(many)
    print(f"\nconcurrent calls: {fan_out} replicas of a {seconds} s expert, {rounds} rounds (median)")
    print(f"one call in a turn:          {one_s * 1e3:8.1f} ms")
    print(f"{fan_out} calls in one turn:        {four_s * 1e3:8.1f} ms")
    print(f"ratio {fan_out} calls / 1 call: {four_s / one_s:.2f}x   (target <= 1.3x)")


if __name__ == "__main__":
    main()
