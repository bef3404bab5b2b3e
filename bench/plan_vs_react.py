"""Plan mode vs. the ReAct loop on the same work: a three-wave plan over tools of known latency.

Run: ``python bench/plan_vs_react.py [--tool-s 0.3] [--llm-s 0.2] [--rounds 3]``. One embedded Ray;
a ``sleepy`` expert (``--tool-s`` per call) with 3 replicas; a scripted controller that takes
``--llm-s`` per reply (standing in for an LLM's latency). The work: wave 1 = 3 independent calls,
wave 2 = 2 calls, wave 3 = 1 call. Plan mode: one controller turn writes the plan, waves run
concurrently, one turn answers. ReAct: one call per controller turn. Prints both wall times
(median) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
WAVES = (3, 2, 1)


def slow(reply: str, seconds: float):
    def respond(messages):
        time.sleep(seconds)
        return reply

    return respond


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tool-s", type=float, default=0.3)
    parser.add_argument("--llm-s", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from llm.scripted import ScriptedChatModel
    from orchestrator import Orchestrator

    os.environ["PYTHONPATH"] = str(REPO)  # replicas import tests.support.experts
    config = {
        "data_dir": tempfile.mkdtemp(prefix="mmr-bench-"),
        "max_steps": 20,
        "ray": {"num_cpus": 4},
        "experts": {
            "sleepy": {
                "class": "tests.support.experts:Sleepy",
                "num_replicas": max(WAVES),
                "max_ongoing_requests": 4,
                "timeout_s": 30,
            }
        },
    }
    steps, previous, next_id = [], [], 0
    for size in WAVES:
        ids = list(range(next_id, next_id + size))
        steps += [
            {"id": i, "tool": "sleepy", "arguments": {"seconds": args.tool_s}, "dependencies": previous}
            for i in ids
        ]
        previous, next_id = ids, next_id + size
    plan_turn = "Thought: all steps are known\nPlan: " + json.dumps(steps)
    act = f'Thought: next\nAction: sleepy\nAction Input: {{"seconds": {args.tool_s}}}'
    answer = "Thought: done\nFinal Answer: done"
    plan_times, react_times = [], []
    with Orchestrator.local(config) as orch:
        for i in range(args.rounds + 1):
            plan = ScriptedChatModel([slow(plan_turn, args.llm_s), slow(answer, args.llm_s)])
            started = time.perf_counter()
            planned = orch.run("three waves", chat_model=plan)
            plan_s = time.perf_counter() - started
            react = ScriptedChatModel([slow(act, args.llm_s)] * len(steps) + [slow(answer, args.llm_s)])
            started = time.perf_counter()
            reacted = orch.run("one at a time", chat_model=react)
            react_s = time.perf_counter() - started
            assert planned.ok and reacted.ok, (planned.failure, reacted.failure)
            if i:  # the first round warms up
                plan_times.append(plan_s)
                react_times.append(react_s)
    p, r = statistics.median(plan_times), statistics.median(react_times)
    print(
        f"\nplan vs react: waves {WAVES}, tool {args.tool_s} s, controller {args.llm_s} s/turn, "
        f"{args.rounds} rounds (median)"
    )
    print(f"plan mode  ({2} controller turns):  {p:6.2f} s")
    print(f"ReAct loop ({len(steps) + 1} controller turns):  {r:6.2f} s")
    print(f"ratio ReAct / plan: {r / p:.2f}x")


if __name__ == "__main__":
    main()
