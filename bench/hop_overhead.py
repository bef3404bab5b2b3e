"""Hop overhead: N chained calls to a no-op expert through the SDK vs. the same calls on a bare handle.

Run: ``python bench/hop_overhead.py [--hops 50] [--rounds 3]``. One embedded Ray, one ``noop``
deployment; rounds alternate between the two paths so drift hits both alike. Printed per hop:

- bare:       ``DeploymentHandle.remote(args).result()`` on the noop deployment
- sdk tool:   the tool call as the orchestrator runs it inside a controller turn (validate the
              arguments, resolve handles, dispatch, wait, store outputs) — the ``seconds`` of each step
- sdk turn:   a whole loop iteration: scripted controller turn + parse + act + observe + the
              checkpoint writes (wall time of the run / N)

Target: sdk tool hop <= 1.5x a bare handle call (p50).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hops", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkpointer", choices=["sqlite", "memory"], default="sqlite")
    args = parser.parse_args()

    from llm.scripted import ScriptedChatModel
    from orchestrator import Orchestrator

    data_dir = tempfile.mkdtemp(prefix="mmr-bench-")
    config = {
        "data_dir": data_dir,
        "checkpointer": args.checkpointer,
        "max_steps": args.hops + 1,
        "experts": {"noop": {"max_ongoing_requests": 64, "ray_actor_options": {"num_cpus": 0.1}}},
    }
    turn = 'Thought: next hop\nAction: noop\nAction Input: {"payload": "x"}'
    bare, tool, loop = [], [], []
    with Orchestrator.local(config) as orch:
        handle = orch.runtime.catalogue.get("noop").handle
        for _ in range(20):  # warm both paths
            handle.remote({"payload": "x"}).result()
        orch.run("warm up", chat_model=ScriptedChatModel([turn] * 5 + ["Final Answer: ok"]))
        for _ in range(args.rounds):
            for _ in range(args.hops):
                started = time.perf_counter()
                handle.remote({"payload": "x"}).result()
                bare.append(time.perf_counter() - started)
            script = ScriptedChatModel([turn] * args.hops + ["Thought: done\nFinal Answer: ok"])
            started = time.perf_counter()
            result = orch.run(f"call noop {args.hops} times", chat_model=script, max_steps=args.hops + 1)
            elapsed = time.perf_counter() - started
            assert result.ok and len(result.steps) == args.hops + 1, result.failure
            tool += [s.seconds for s in result.steps if s.tool]
            loop.append(elapsed / args.hops)

    def row(name: str, values: list[float]) -> str:
        p50, p95 = percentile(values, 0.5) * 1e3, percentile(values, 0.95) * 1e3
        return f"{name:<34}{p50:>9.2f}{p95:>9.2f}{len(values):>7}"

    print(f"\nhop overhead: {args.hops} hops x {args.rounds} rounds, checkpointer={args.checkpointer}")
    print(f"{'path':<34}{'p50 ms':>9}{'p95 ms':>9}{'n':>7}")
    print(row("bare DeploymentHandle call", bare))
    print(row("sdk tool hop (act: validate+call)", tool))
    print(row("sdk loop turn (think+act+observe)", loop))
    ratio_tool = percentile(tool, 0.5) / percentile(bare, 0.5)
    ratio_loop = statistics.median(loop) / percentile(bare, 0.5)
    print(f"\nratio sdk tool hop / bare (p50): {ratio_tool:.2f}x   (target <= 1.5x)")
    print(f"ratio sdk loop turn / bare (p50): {ratio_loop:.2f}x   (whole turn: controller + checkpoints)")


if __name__ == "__main__":
    main()
