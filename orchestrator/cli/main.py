"""The ``reactor`` command: demo, run, approve, serve, experts."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from orchestrator.config import load_config
from orchestrator.errors import ConfigError, ReactorError
from orchestrator.events import Event, ToolFinished
from orchestrator.result import Result

__all__ = ["main"]


def _console(file: TextIO | None = None) -> Console:
    """A console on ``file`` or the current stdout (looked up per call, so redirected output is honoured).

    Plain text: no markup, highlighting or wrapping of long lines, and no colour or spinners
    unless the output is a terminal.
    """
    return Console(file=file, highlight=False, markup=False, emoji=False, soft_wrap=True)


@contextmanager
def _progress(console: Console, text: str, *, echo: bool = True) -> Iterator[None]:
    """A spinner with ``text`` on a terminal; where output is redirected, the plain line (``echo``)."""
    if console.is_terminal:
        with console.status(text):
            yield
    else:
        if echo:
            console.print(text)
        yield


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _print_result(result: Result, out_dir: Path) -> None:
    """The controller's thoughts per turn, a table of the calls, the artifacts and the answer."""
    console = _console()
    console.print(
        f"\ncontroller: {result.controller}"
        + ("  [REPLAY: replies are scripted, not generated]" if result.replay else "")
    )
    thoughts = {step.turn: step.thought for step in result.steps if step.thought}
    for turn, thought in sorted(thoughts.items()):
        console.print(f"  turn {turn}: {thought}", style="italic")
    table = Table("step", "call", "replica", "ms", "result", box=box.SIMPLE_HEAD)
    for step in result.steps:
        if step.repairs:
            console.print(
                f"  step {step.index}: repaired the reply: {'; '.join(step.repairs)}", style="yellow"
            )
        if step.tool:
            made = f"→ {', '.join(step.new_handles)}" if step.new_handles else "ok"
            label = f"error ({step.error_type})" if step.error_type else "error"
            table.add_row(
                str(step.index),
                f"{step.tool} {_clip(json.dumps(step.arguments), 100)}",
                step.replica or "",
                f"{step.seconds * 1000:.0f}",
                f"{label}: {step.error}" if step.error else made,
                style="red" if step.error else None,
            )
        elif step.error:
            table.add_row(str(step.index), "controller", "", "", f"error: {step.error}", style="red")
        else:
            table.add_row(str(step.index), "final answer", "", "", "")
    console.print(table)
    saved = result.save_artifacts(out_dir)
    if saved:
        console.print(f"artifacts written to {out_dir}/: " + ", ".join(p.name for p in saved))
    if result.ok:
        console.print(f"\nanswer: {result.answer}")
    else:
        console.print(f"\nFAILED: {result.failure}", style="bold red")
    console.print(f"({len(result.steps)} steps, {result.seconds:.1f} s)")


def _demo(args: argparse.Namespace) -> int:
    from orchestrator.cli.demo import DEMO_TASK, demo_controller, make_demo_image
    from orchestrator.sdk import Orchestrator

    if args.video:
        return _demo_video(args)
    started = time.perf_counter()
    config = load_config(args.config)
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
    console = _console()
    console.print(f"input image: {image_path}\ntask: {DEMO_TASK}")
    with _progress(console, "starting Ray and deploying experts …"):
        orch = Orchestrator.local(config, chat_model=chat_model)
    with orch:
        ready = time.perf_counter() - started
        console.print(f"experts: {', '.join(orch.experts)} (ready after {ready:.1f} s)")
        result = orch.run(DEMO_TASK, images=[image_path])
        _print_result(result, out_dir)
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0 if result.ok else 1


def _demo_video(args: argparse.Namespace) -> int:
    """The video demo: real video_frames, OCR and cutout experts, a replayed controller, a self-check."""
    from orchestrator.cli import demo_video as demo
    from orchestrator.config import ExpertDeployment
    from orchestrator.sdk import Orchestrator

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
    clip_path.write_bytes(demo.make_demo_clip())
    console = _console()
    console.print(
        f"input video: {clip_path}, mask-1: the ball at {demo.MASK_TIME:g} s\ntask: {demo.VIDEO_DEMO_TASK}"
    )
    with _progress(console, "starting Ray and deploying experts …"):
        orch = Orchestrator.local(config, chat_model=None if live else demo.video_demo_controller())
    with orch:
        console.print(f"experts: {', '.join(orch.experts)}")
        mask = {"mask-1": {"mask": demo.ball_mask(), "for": "video-1"}}
        result = orch.run(demo.VIDEO_DEMO_TASK, videos=[clip_path], inputs=mask)
        _print_result(result, out_dir)
    missing = [] if live else demo.check_answer(result.answer)
    if missing:
        console.print("the demo's check FAILED: the answer lacks " + "; ".join(missing), style="bold red")
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0 if result.ok and not missing else 1


def _show(event: Event, out: TextIO | None = None) -> None:
    """One line per event, as it happens."""
    out = out or sys.stdout  # looked up per call, so redirected output is honoured
    console = _console(out)
    if event.type == "start":
        console.print(
            f"session {event.session} · run {event.run_id}" + (" (resumed)" if event.resumed else "")
        )
    elif event.type == "thought":
        console.print(
            f"• {event.text}" + (f" (repaired: {'; '.join(event.repairs)})" if event.repairs else "")
        )
    elif event.type == "plan":
        console.print(
            f"• plan of {len(event.steps)} steps"
            + (f" (repaired: {'; '.join(event.repairs)})" if event.repairs else "")
        )
    elif event.type == "tool_start":
        console.print(f"  … {event.tool} {json.dumps(event.arguments)[:120]}")
    elif event.type == "tool_end":
        if event.error:
            kind = f" [{event.error_type}]" if event.error_type else ""
            console.print(f"  ✗ {event.tool}{kind}: {event.error[:300]}", style="red")
        else:
            made = f" → {', '.join(event.new_handles)}" if event.new_handles else ""
            console.print(f"  ✓ {event.tool} {event.seconds * 1000:.0f} ms{made}", style="green")
    elif event.type == "approval":
        calls = "; ".join(f"{c['tool']} {json.dumps(c['arguments'])}" for c in event.calls)
        console.print(
            f"  ? waiting for approval: {calls}\n    approve: reactor approve {event.session}"
            f"   deny: reactor approve {event.session} --deny --reason '…'",
            style="yellow",
        )
    elif event.type == "error":
        console.print(("FAILED: " if event.fatal else "  ! ") + event.message, style="red")
    elif event.type == "answer":
        console.print(f"answer: {event.text}", style="bold")


def _finish(result: Result, out_dir: Path) -> int:
    saved = result.save_artifacts(out_dir)
    if saved:
        print(f"artifacts written to {out_dir}/: " + ", ".join(p.name for p in saved))
    return {"answered": 0, "pending": 3}.get(result.status, 1)


def _run(args: argparse.Namespace) -> int:
    from orchestrator.sdk import Orchestrator

    config = load_config(args.config)
    if config.controller.backend == "scripted":
        raise ConfigError(
            "reactor run needs a controller LLM: set MM_REACTOR_LLM_BASE_URL and MM_REACTOR_LLM_MODEL "
            "(any OpenAI-compatible server: vLLM, Ollama, OpenAI …) or controller.backend in --config; "
            "`reactor demo` runs offline with a replayed controller"
        )
    with _progress(_console(), "starting Ray and deploying experts …", echo=False):
        orch = Orchestrator.local(config)
    with orch:
        events = orch.stream(
            args.task,
            images=args.image or None,
            videos=args.video or None,
            session=args.session,
            max_steps=args.max_steps,
            deadline_s=args.deadline,
        )
        result = None
        for event in events:
            _show(event)
            if event.type == "end":
                result = event.result
        assert result is not None
        if args.report:
            print(f"report written to {result.save_report(args.report)}")
        return _finish(result, Path(args.out))


def _approve(args: argparse.Namespace) -> int:
    from orchestrator.sdk import Orchestrator

    config = load_config(args.config)
    with Orchestrator.local(config, deploy=not args.attach) as orch:
        decide = orch.deny if args.deny else orch.approve
        result = decide(args.session, reason=args.reason)
        for step in result.steps:
            if step.tool:
                _show(
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
        return _finish(result, Path(args.out))


def _cluster_config(args: argparse.Namespace):
    config = load_config(args.config)
    address = args.address or config.ray.address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ConfigError(
            "no Ray cluster to use: start one (`ray start --head`, or `ray up cluster.yaml`) and set "
            "RAY_ADDRESS, pass --address, or set ray.address in the config"
        )
    return config.model_copy(update={"ray": config.ray.model_copy(update={"address": address})})


def _serve(args: argparse.Namespace) -> int:
    from orchestrator.serving.runtime import ExpertRuntime

    config = _cluster_config(args)
    runtime = ExpertRuntime(config.ray)
    runtime.start()
    deployed = runtime.deploy(config.enabled_experts(), app_prefix=config.ray.app_prefix)
    print(f"deployed {len(deployed)} experts on {runtime.address}: " + ", ".join(d.name for d in deployed))
    runtime.disconnect()
    return 0


def _experts(args: argparse.Namespace) -> int:
    from orchestrator.serving.runtime import ExpertRuntime, describe_deployments

    config = _cluster_config(args)
    runtime = ExpertRuntime(config.ray)
    runtime.start()
    rows = describe_deployments(config.ray.app_prefix, config.experts)
    runtime.disconnect()
    console = _console()
    if not rows:
        console.print(
            f"no experts are deployed (apps named {config.ray.app_prefix}*); run `reactor serve --config …`"
        )
        return 1
    table = Table("expert", "status", "replicas", "cpus", "gpus", "nodes", box=box.SIMPLE_HEAD)
    for row in rows:
        replicas = f"{row['running']}/{row['target']}"
        nodes = ",".join(row["nodes"]) or "?"
        cpus, gpus = str(row["num_cpus"]), str(row["num_gpus"])
        table.add_row(row["expert"], row["status"], replicas, cpus, gpus, nodes)
    console.print(table)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reactor", description="mm-reactor: a multimodal agent on Ray Serve."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline demo: OCR and image experts on an embedded Ray")
    demo.add_argument("--config", help="YAML config file (default: the packaged one)")
    demo.add_argument(
        "--out", default="reactor-demo-output", help="directory for the input and output images"
    )
    demo.add_argument(
        "--video",
        action="store_true",
        help="the video demo: OCR on sampled frames and a cut-out (needs [video])",
    )
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run one task (needs a controller LLM: MM_REACTOR_LLM_BASE_URL …)")
    run.add_argument("task", help="what to do, in words")
    run.add_argument("--image", action="append", help="an input image (repeat for several)")
    run.add_argument("--video", action="append", help="an input video file (repeat for several)")
    run.add_argument("--session", help="continue this session id")
    run.add_argument("--max-steps", type=int, default=None)
    run.add_argument("--config", help="YAML config file")
    run.add_argument("--out", default="reactor-output", help="directory for output images")
    run.add_argument(
        "--deadline", type=float, default=None, help="stop issuing tool calls after this many seconds"
    )
    run.add_argument("--report", help="also write a self-contained HTML report of the run to this file")
    run.set_defaults(func=_run)
    approve = sub.add_parser(
        "approve", help="approve (or --deny) the calls a pending run waits for, and continue it"
    )
    approve.add_argument("session", help="the session id the pending run printed")
    approve.add_argument("--deny", action="store_true", help="deny instead of approve")
    approve.add_argument("--reason", help="a reason the controller will read")
    approve.add_argument("--config", help="YAML config file (the same data_dir as the run)")
    approve.add_argument("--attach", action="store_true", help="use experts already deployed (reactor serve)")
    approve.add_argument("--out", default="reactor-output", help="directory for output images")
    approve.set_defaults(func=_approve)
    serve = sub.add_parser("serve", help="deploy the configured experts to a running Ray cluster and exit")
    serve.add_argument("--config", help="YAML config listing the experts (e.g. configs/cluster-experts.yaml)")
    serve.add_argument("--address", help="Ray address (default: RAY_ADDRESS or ray.address in the config)")
    serve.set_defaults(func=_serve)
    experts = sub.add_parser("experts", help="list the experts deployed on the cluster")
    experts.add_argument("--config", help="YAML config (for the app-name prefix)")
    experts.add_argument("--address", help="Ray address (default: RAY_ADDRESS)")
    experts.set_defaults(func=_experts)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reactor`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return args.func(args)
    except ReactorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
