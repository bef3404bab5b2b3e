"""The service under load: 64 concurrent HTTP clients on `reactor serve --local`, beside the in-process SDK.

Run: ``python bench/service_load.py [--clients 64] [--tasks 3] [--replicas 1,2]``. Every task is the same:
a scripted controller (no LLM latency) runs OCR on a sign, then draw_boxes and crop in one turn, then
answers. In one run it measures, side by side:

- the in-process SDK: ``Orchestrator.local()`` with the clients as threads calling ``orch.run``;
- the service with one ingress replica (SQLite), and with two (PostgreSQL + the shared data directory),
  each client a remote ``Client`` (multipart upload, events over SSE, the Result);
- the CLI's first event against the running service: ``reactor run --url`` from process start to its
  first printed event.

It prints tasks/s, p50/p95 latency and errors (which must be 0) for each, and HTTP / in-process ratios.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
KEY = "bench-service-load-key"
TASK = "Read the text on this sign, outline each line of text, and crop out the first line."
REPLIES = [
    'Thought: read it\nAction: ocr\nAction Input: {"image": "image-1"}',
    "Thought: outline and crop\n"
    "Action: draw_boxes\n"
    'Action Input: {"image": "image-1", "boxes": [[30, 30, 260, 55]], "labels": ["line"]}\n'
    'Action: crop\nAction Input: {"image": "image-1", "box": [25, 25, 265, 60]}',
    "Thought: done\nFinal Answer: outlined as image-2, cropped as image-3",
]


@dataclass
class Stats:
    label: str
    tasks: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def row(self) -> str:
        return (
            f"{self.label:<34} {self.rate:8.2f} {self.quantile(0.5) * 1e3:9.0f} "
            f"{self.quantile(0.95) * 1e3:9.0f} {self.errors:7d}"
        )


def sign_png() -> bytes:
    from orchestrator.cli.demo import make_demo_image

    buffer = io.BytesIO()
    make_demo_image().resize((400, 240)).save(buffer, format="PNG")
    return buffer.getvalue()


def config(data_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "data_dir": str(data_dir),
        "checkpointer": "sqlite",
        "controller": {"backend": {"name": "scripted", "options": {"replies": REPLIES}}},
        "ray": {"num_cpus": 8, "app_prefix": "bench-"},
        "experts": {
            "ocr": {"ray_actor_options": {"num_cpus": 1}, "max_ongoing_requests": 16},
            "crop": {"max_ongoing_requests": 64},
            "draw_boxes": {"max_ongoing_requests": 64},
        },
    } | extra


def load(label: str, run_one: Callable[[int], bool], clients: int, tasks: int) -> Stats:
    """``clients`` threads, each running ``tasks`` tasks one after another."""
    latencies: list[float] = []
    errors = [0]

    def client(number: int) -> None:
        for _ in range(tasks):
            started = time.perf_counter()
            try:
                ok = run_one(number)
            except Exception as err:
                print(f"  {label}: {type(err).__name__}: {err}")
                ok = False
            latencies.append(time.perf_counter() - started)
            errors[0] += not ok

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return Stats(label, clients * tasks, time.perf_counter() - started, latencies, errors[0])


def in_process(image: bytes, clients: int, tasks: int) -> Stats:
    from llm.scripted import ScriptedChatModel
    from orchestrator import Orchestrator

    for attempt in range(3):  # a busy shared machine sometimes times out starting Ray: try again
        try:
            orch = Orchestrator.local(config(Path(tempfile.mkdtemp(prefix="mmr-load-sdk-"))))
            break
        except Exception as err:
            if attempt == 2:
                raise
            print(f"Ray did not start (attempt {attempt + 1}): {err}")
    with orch:

        def one(_: int) -> bool:
            return orch.run(TASK, images=[image], chat_model=ScriptedChatModel(REPLIES)).ok

        load("warm-up", one, 4, 2)
        return load("in-process SDK (orch.run)", one, clients, tasks)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """``reactor serve --local`` in a subprocess with the bench's config."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mmr-load-svc-"))
        (self.root / "config.yaml").write_text(yaml.safe_dump(cfg))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MM_REACTOR_API_KEYS": KEY,
            "MM_REACTOR_API_KEY": KEY,
        }
        self.log = self.root / "serve.log"
        for attempt in range(3):  # a busy shared machine sometimes times out starting Ray: try again
            if self._start():
                return
            print(f"the service did not start (attempt {attempt + 1}):\n{self.log.read_text()[-1500:]}")
        raise RuntimeError("the service did not start three times; see above")

    def _start(self) -> bool:
        command = [
            sys.executable,
            "-m",
            "orchestrator.cli.main",
            "serve",
            "--local",
            "--port",
            str(self.port),
        ]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [*command, "--config", str(self.root / "config.yaml")], env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 600
        while "press Ctrl-C" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                return False
            time.sleep(1)
        return True

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()


def over_http(service: Service, label: str, image: bytes, clients: int, tasks: int) -> Stats:
    from orchestrator import Client

    remotes = [Client(service.url, api_key=KEY, timeout=300) for _ in range(clients)]
    try:

        def one(number: int) -> bool:
            return remotes[number].run(TASK, images=[image]).ok

        load("warm-up", one, 4, 2)
        return load(label, one, clients, tasks)
    finally:
        for remote in remotes:
            remote.close()


def cli_first_event(service: Service, sign: Path, runs: int = 5) -> list[float]:
    """Seconds from starting `reactor run --url` to its first printed event (the run's start line)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "orchestrator.cli.main",
            "run",
            "--url",
            service.url,
            TASK,
            "--image",
        ]
        process = subprocess.Popen(
            [*command, str(sign), "--out", str(service.root / "cli-out")],
            env=service.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        first = process.stdout.readline()
        times.append(time.perf_counter() - started)
        process.communicate(timeout=120)
        if not first.startswith("session ") or process.returncode != 0:
            raise RuntimeError(f"reactor run --url failed ({process.returncode}): {first!r}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=3, help="tasks per client")
    parser.add_argument("--replicas", default="1,2", help="ingress replica counts to measure")
    args = parser.parse_args()
    image = sign_png()
    sign = Path(tempfile.mkdtemp(prefix="mmr-load-")) / "sign.png"
    sign.write_bytes(image)
    limits = {
        "worker_threads": args.clients,
        "max_tasks_per_key": args.clients * 2,
        "requests_per_minute": 10**6,
    }

    rows = [in_process(image, args.clients, args.tasks)]
    first_event: list[float] = []
    for replicas in [int(n) for n in args.replicas.split(",")]:
        extra: dict[str, Any] = {"service": {"num_replicas": replicas, **limits}}
        server = None
        if replicas > 1:
            from tests.support.postgres import PostgresServer, find_postgres_bin

            bin_dir = find_postgres_bin()
            if bin_dir is None:
                print(f"{replicas} replicas: skipped (no PostgreSQL server binaries; .ci/install-postgres)")
                continue
            server = PostgresServer(bin_dir, database="mmr_load")
            server.start()
            extra |= {"checkpointer": "postgres", "postgres_url": server.url}
        service = Service(config(Path(tempfile.mkdtemp(prefix="mmr-load-data-")), **extra))
        try:
            label = f"HTTP, {replicas} ingress replica{'s' if replicas > 1 else ''}"
            rows.append(over_http(service, label, image, args.clients, args.tasks))
            if replicas == 1:
                first_event = cli_first_event(service, sign)
        finally:
            service.stop()
            if server is not None:
                server.stop()

    print(
        f"\n{args.clients} concurrent clients x {args.tasks} tasks "
        "(ocr -> draw_boxes + crop, scripted controller)"
    )
    print(f"{'':<34} {'tasks/s':>8} {'p50 ms':>9} {'p95 ms':>9} {'errors':>7}")
    for row in rows:
        print(row.row())
    base = rows[0].rate
    for row in rows[1:]:
        print(f"{row.label}: {row.rate / base:.2f}x the in-process throughput (target >= 0.8x)")
    if first_event:
        print(
            f"reactor run --url: first event {statistics.median(first_event) * 1e3:.0f} ms after the process "
            f"started (median of {len(first_event)}; max {max(first_event) * 1e3:.0f} ms; target < 1000 ms)"
        )


if __name__ == "__main__":
    main()
