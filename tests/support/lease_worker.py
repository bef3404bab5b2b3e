"""One orchestrator process running one turn of a session, for the cross-process lease tests.

    python -m tests.support.lease_worker --data-dir D --session S --image-seed N --markers M
        [--postgres-url URL] [--lease-ttl-s T] [--hold]

It opens an orchestrator on the shared checkpoint database (SQLite in ``D``, or PostgreSQL) without
Ray: the turn calls no expert, so only the SDK, the graph, the checkpointer and the artifact store
(``D/artifacts``, shared) take part. The turn gives one input image and answers at once; with
``--hold`` the controller first leaves ``M/<pid>.running`` and waits until ``M/go`` exists, so a
test can act while the run holds the session. The last stdout line is JSON: the result, or the
error (``{"error": type, "message": ...}``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LeaseWorker", "input_image", "main"]

REPO = Path(__file__).resolve().parents[2]


def input_image(seed: int) -> np.ndarray:
    """The input image of a worker's turn: random, reproducible from its seed in any process."""
    return np.random.default_rng(seed).integers(0, 255, (12, 16, 3), dtype=np.uint8)


def _controller(markers: Path, hold: bool) -> Any:
    from llm.scripted import ScriptedChatModel

    def reply(messages: list[Any]) -> str:
        if hold:
            (markers / f"{os.getpid()}.running").touch()
            while not (markers / "go").exists():
                time.sleep(0.02)
        return f"Thought: done\nFinal Answer: answered by {os.getpid()}"

    return ScriptedChatModel([reply])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run one turn of a session in its own process")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--session", required=True)
    parser.add_argument("--image-seed", type=int, required=True)
    parser.add_argument("--markers", required=True)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--lease-ttl-s", type=float, default=None)
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args(argv)

    from orchestrator import Orchestrator, ReactorError
    from orchestrator.config import load_config
    from orchestrator.serving.runtime import ExpertRuntime

    options = {} if args.lease_ttl_s is None else {"lease_ttl_s": args.lease_ttl_s}
    name = "postgres" if args.postgres_url else "sqlite"
    config = load_config(
        {
            "data_dir": args.data_dir,
            "checkpointer": {"name": name, "options": options},
            "postgres_url": args.postgres_url,
            "experts": {},
        }
    )
    orch = Orchestrator(config, ExpertRuntime(config.ray))
    try:
        result = orch.run(
            "describe the photo",
            images=[input_image(args.image_seed)],
            session=args.session,
            chat_model=_controller(Path(args.markers), args.hold),
        )
        out: dict[str, Any] = {
            "status": result.status,
            "run_id": result.run_id,
            "failure": result.failure,
            "ids": {h: a.id for h, a in result.artifacts.items()},
            "interrupted_runs": result.interrupted_runs,
        }
    except ReactorError as err:
        out = {"error": type(err).__name__, "message": str(err)}
    finally:
        orch.close()
    print(json.dumps(out), flush=True)


class LeaseWorker:
    """A worker process (its own process group, so a test may SIGKILL it)."""

    def __init__(self, data_dir: Path, markers: Path, session: str, seed: int, **options: Any) -> None:
        command = [sys.executable, "-m", "tests.support.lease_worker", "--data-dir", str(data_dir)]
        command += ["--session", session, "--image-seed", str(seed), "--markers", str(markers)]
        for key, value in options.items():
            if value is True:
                command.append(f"--{key.replace('_', '-')}")
            elif value is not None and value is not False:
                command += [f"--{key.replace('_', '-')}", str(value)]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("MM_REACTOR_POSTGRES_URL", None)
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def result(self, timeout: float = 120) -> dict[str, Any]:
        """The worker's last line as JSON (it must exit within ``timeout``)."""
        stdout, stderr = self.process.communicate(timeout=timeout)
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        assert lines, f"the worker printed no result (exit {self.process.returncode}):\n{stderr[-3000:]}"
        return dict(json.loads(lines[-1]))

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


if __name__ == "__main__":
    main()
