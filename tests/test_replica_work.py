"""The replica's call threads: abandoned work frees its slot, serial experts never overlap, stuck work
shows."""

from __future__ import annotations

import asyncio
import threading

import pytest

from experts._replica_work import CallRunner


def _hang(release: threading.Event) -> str:
    release.wait(timeout=30)
    return "late"


async def _abandon(runner: CallRunner, release: threading.Event) -> None:
    """Start a call that hangs, then give up on it as a caller that timed out would."""
    task = asyncio.ensure_future(runner.run(_hang, release))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_quick_call_runs_after_many_abandoned_ones():
    async def main() -> str:
        release = threading.Event()
        runner = CallRunner(serial=False, limit_s=60, capacity=2)
        try:
            for _ in range(10):  # five times the capacity
                await _abandon(runner, release)
            assert runner.running == 10  # the threads still run: Python cannot stop them
            return await asyncio.wait_for(runner.run(str.upper, "quick"), timeout=10)
        finally:
            release.set()

    assert asyncio.run(main()) == "QUICK"


def test_live_calls_are_bounded_by_the_capacity():
    async def main() -> list[str]:
        release = threading.Event()
        runner = CallRunner(serial=False, limit_s=60, capacity=2)
        calls = [asyncio.ensure_future(runner.run(_hang, release)) for _ in range(3)]
        await asyncio.sleep(0.1)
        started = runner.running
        release.set()
        results = await asyncio.gather(*calls)
        assert started == 2  # the third waited for a slot
        return results

    assert asyncio.run(main()) == ["late"] * 3


def test_a_serial_expert_never_runs_two_calls_at_once_even_after_a_timeout():
    async def main() -> None:
        release = threading.Event()
        runner = CallRunner(serial=True, limit_s=60)
        await _abandon(runner, release)
        follower = asyncio.ensure_future(runner.run(str.upper, "next"))
        await asyncio.sleep(0.1)
        assert not follower.done() and runner.running == 1  # waits for the abandoned thread to end
        release.set()
        assert await asyncio.wait_for(follower, timeout=10) == "NEXT"

    asyncio.run(main())


def test_work_past_its_limit_is_reported_stuck():
    async def main() -> None:
        release = threading.Event()
        runner = CallRunner(serial=False, limit_s=0.0)
        assert runner.stuck() == []
        await _abandon(runner, release)
        assert len(runner.stuck()) == 1 and runner.stuck()[0] > 0
        release.set()
        for _ in range(100):
            if not runner.running:
                break
            await asyncio.sleep(0.05)
        assert runner.stuck() == [] and runner.running == 0

    asyncio.run(main())


def test_errors_reach_the_caller():
    def boom(_: object) -> None:
        raise KeyError("nope")

    async def main() -> None:
        with pytest.raises(KeyError, match="nope"):
            await CallRunner(serial=True, limit_s=5).run(boom, None)

    asyncio.run(main())
