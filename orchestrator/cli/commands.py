"""``reactor demo``, ``run``, ``approve`` and ``experts``: in this process, or against a service (``--url``).

With ``--url`` a command talks to a running service through the remote ``Client`` and never imports Ray.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from orchestrator.cli.output import console, finish, print_result, progress, show
from orchestrator.config import ReactorConfig, load_config
from orchestrator.errors import ConfigError
from orchestrator.events import ToolFinished
from orchestrator.result import Result

if TYPE_CHECKING:
    from orchestrator.sdk import Orchestrator

__all__ = ["approve", "cluster_config", "demo", "experts", "run"]


def _ready(con: Console) -> Callable[[str, float], None]:
    """Prints each expert as it starts running (the start-up's progress)."""
    return lambda name, seconds: con.print(f"  ✓ {name} ready ({seconds:.1f} s)")


def _local(args: argparse.Namespace) -> type[Orchestrator]:
    """The SDK, imported (with Ray) for a command that runs here; Ray's chatter quiet unless --verbose."""
    from orchestrator.cli.quiet import quiet_ray
    from orchestrator.sdk import Orchestrator

    quiet_ray(getattr(args, "verbose", False))
    return Orchestrator


def demo(args: argparse.Namespace) -> int:
    from orchestrator.cli.demo import (
        DEMO_TASK,
        check_demo_config,
        check_demo_result,
        demo_controller,
        make_demo_image,
    )

    if args.video:
        return _demo_video(args)
    started = time.perf_counter()
    config = load_config(args.config)
    check_demo_config(config, args.config)
    orchestrator = _local(args)
    live = config.controller.backend != "scripted"
    chat_model = None if live else demo_controller()
    if not live:
        print(
            "No LLM endpoint is configured, so the controller is a REPLAY: a scripted policy whose\n"
            "replies are computed from the real tool outputs\n"
            "(set MM_REACTOR_LLM_BASE_URL and MM_REACTOR_LLM_MODEL to run live)."
        )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    image_path = out_dir / "demo-sign.png"
    make_demo_image().save(image_path)
    con = console()
    con.print(f"input image: {image_path}\ntask: {DEMO_TASK}")
    with progress(con, "starting Ray and deploying experts …"):
        orch = orchestrator.local(config, chat_model=chat_model, on_ready=_ready(con))
    with orch:
        ready = time.perf_counter() - started
        con.print(f"experts: {', '.join(orch.experts)} (ready after {ready:.1f} s)")
        result = orch.run(DEMO_TASK, images=[image_path])
        print_result(result, out_dir)
    problems = check_demo_result(result, replay=not live)
    if problems:
        con.print("the demo FAILED:\n- " + "\n- ".join(problems), style="bold red")
    con.print(f"demo {'failed' if problems else 'finished'} in {time.perf_counter() - started:.1f} s")
    return 1 if problems else 0


def _demo_video(args: argparse.Namespace) -> int:
    """The video demo: real video_frames, OCR and cutout experts, a replayed controller, a self-check."""
    from orchestrator.cli import demo_video
    from orchestrator.config import ExpertDeployment

    orchestrator = _local(args)
    started = time.perf_counter()
    config = load_config(args.config)
    needed = {
        name: config.experts.get(name, ExpertDeployment()) for name in ("video_frames", "ocr", "cutout")
    }
    config.experts = {name: entry.model_copy(update={"enabled": True}) for name, entry in needed.items()}
    live = config.controller.backend != "scripted"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    clip_path = out_dir / "demo-clip.mp4"
    clip_path.write_bytes(demo_video.make_demo_clip())
    con = console()
    con.print(
        f"input video: {clip_path}, mask-1: the ball at {demo_video.MASK_TIME:g} s\n"
        f"task: {demo_video.VIDEO_DEMO_TASK}"
    )
    with progress(con, "starting Ray and deploying experts …"):
        controller = None if live else demo_video.video_demo_controller()
        orch = orchestrator.local(config, chat_model=controller, on_ready=_ready(con))
    with orch:
        con.print(f"experts: {', '.join(orch.experts)}")
        mask = {"mask-1": {"mask": demo_video.ball_mask(), "for": "video-1"}}
        result = orch.run(demo_video.VIDEO_DEMO_TASK, videos=[clip_path], inputs=mask)
        print_result(result, out_dir)
    missing = [] if live else demo_video.check_answer(result.answer)
    if missing:
        con.print("the demo's check FAILED: the answer lacks " + "; ".join(missing), style="bold red")
    con.print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0 if result.ok and not missing else 1


def _follow(events, url: str | None = None) -> Result:
    result = None
    for event in events:
        show(event, url=url)
        if event.type == "end":
            result = event.result
    assert result is not None, "a run always ends with its result"
    return result


def run(args: argparse.Namespace) -> int:
    options = {"session": args.session, "max_steps": args.max_steps, "deadline_s": args.deadline}
    if args.url:
        from orchestrator.service.client import Client

        with Client(args.url, api_key=args.api_key) as client:
            events = client.stream(args.task, args.image or None, videos=args.video or None, **options)
            result = _follow(events, url=args.url)
            return _report(result, args)
    from orchestrator.preflight import require_controller

    config = load_config(args.config)
    require_controller(config)  # before Ray starts: none configured, or its endpoint does not answer
    orchestrator = _local(args)
    err = console(sys.stderr)
    with progress(err, "starting Ray and deploying experts …", echo=False):
        orch = orchestrator.local(config, on_ready=_ready(err))
    with orch:
        events = orch.stream(args.task, images=args.image or None, videos=args.video or None, **options)
        return _report(_follow(events), args)


def _report(result: Result, args: argparse.Namespace) -> int:
    if args.report:
        print(f"report written to {result.save_report(args.report)}")
    return finish(result, Path(args.out))


def approve(args: argparse.Namespace) -> int:
    if args.url:
        from orchestrator.service.client import Client

        with Client(args.url, api_key=args.api_key) as client:
            return _decided(
                (client.deny if args.deny else client.approve)(args.session, reason=args.reason), args
            )
    from orchestrator.preflight import require_controller

    config = load_config(args.config)
    require_controller(config)  # the run goes on after the decision: it needs its controller
    orchestrator = _local(args)
    with orchestrator.local(config, deploy=not args.attach) as orch:
        decide = orch.deny if args.deny else orch.approve
        return _decided(decide(args.session, reason=args.reason), args)


def _decided(result: Result, args: argparse.Namespace) -> int:
    for step in result.steps:
        if step.tool:
            show(
                ToolFinished(
                    tool=step.tool,
                    seconds=step.seconds,
                    replica=step.replica,
                    error=step.error,
                    error_type=step.error_type,
                    new_handles=step.new_handles,
                    observation=step.observation,
                )
            )
    print(f"answer: {result.answer}" if result.ok else f"{result.status}: {result.failure or ''}")
    return finish(result, Path(args.out))


def cluster_config(args: argparse.Namespace) -> ReactorConfig:
    config = load_config(args.config)
    address = args.address or config.ray.address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ConfigError(
            "no Ray cluster to use: start one (`ray start --head`, or `ray up cluster.yaml`) and set "
            "RAY_ADDRESS, pass --address, or set ray.address in the config"
        )
    return config.model_copy(update={"ray": config.ray.model_copy(update={"address": address})})


def experts(args: argparse.Namespace) -> int:
    from orchestrator.cli.quiet import quiet_ray
    from orchestrator.serving.runtime import ExpertRuntime, describe_deployments

    quiet_ray(args.verbose)
    config = cluster_config(args)
    runtime = ExpertRuntime(config.ray)
    runtime.start()
    rows = describe_deployments(config.ray.app_prefix, config.experts)
    runtime.disconnect()
    con = console()
    if not rows:
        con.print(
            f"no experts are deployed (apps named {config.ray.app_prefix}*); run `reactor serve --config …`"
        )
        return 1
    table = Table("expert", "status", "replicas", "cpus", "gpus", "nodes", box=box.SIMPLE_HEAD)
    for row in rows:
        replicas = f"{row['running']}/{row['target']}"
        nodes = ",".join(row["nodes"]) or "?"
        table.add_row(
            row["expert"], row["status"], replicas, str(row["num_cpus"]), str(row["num_gpus"]), nodes
        )
    con.print(table)
    return 0
