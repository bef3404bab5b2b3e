"""The ``reactor`` command: demo, run, approve, serve, experts, key (the subcommands live beside it)."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import metadata

from orchestrator.cli import commands
from orchestrator.cli.serve import key, serve
from orchestrator.errors import ReactorError

__all__ = ["main", "version"]


def _remote(command: argparse.ArgumentParser) -> None:
    command.add_argument("--url", help="run on the service at this URL (reactor serve); starts no Ray here")
    command.add_argument(
        "--api-key", help="the service's API key (default: $MM_REACTOR_API_KEY or <data_dir>/api-key)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reactor", description="mm-reactor: a multimodal agent on Ray Serve."
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress to stderr, and Ray's own messages"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline demo: OCR and image experts on an embedded Ray")
    demo.add_argument("--config", help="YAML config file (default: the packaged one)")
    demo.add_argument(
        "--out", default="reactor-demo-output", help="directory for the input and output images"
    )
    demo.add_argument(
        "--video",
        action="store_true",
        help="the video demo: OCR on sampled frames and a cut-out (needs the [video] extra)",
    )
    demo.set_defaults(func=commands.demo)
    run = sub.add_parser("run", help="run one task (needs a controller LLM, or --url of a service)")
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
    _remote(run)
    run.set_defaults(func=commands.run)
    approve = sub.add_parser(
        "approve", help="approve (or --deny) the calls a pending run waits for, and continue it"
    )
    approve.add_argument("session", help="the session id the pending run printed")
    approve.add_argument("--deny", action="store_true", help="deny instead of approve")
    approve.add_argument("--reason", help="a reason the controller will read")
    approve.add_argument("--config", help="YAML config file (the same data_dir as the run)")
    approve.add_argument("--attach", action="store_true", help="use experts already deployed (reactor serve)")
    approve.add_argument("--out", default="reactor-output", help="directory for output images")
    _remote(approve)
    approve.set_defaults(func=commands.approve)
    served = sub.add_parser(
        "serve",
        help="deploy the experts and the HTTP service (on a Ray cluster, or --local in the foreground)",
    )
    served.add_argument(
        "--config", help="YAML config listing the experts (e.g. configs/cluster-experts.yaml)"
    )
    served.add_argument("--address", help="Ray address (default: RAY_ADDRESS or ray.address in the config)")
    served.add_argument("--local", action="store_true", help="an embedded Ray on this machine, until Ctrl-C")
    served.add_argument("--host", help="the address to listen on (default 127.0.0.1: this machine only)")
    served.add_argument("--port", type=int, help="the port to listen on (default 8000)")
    served.add_argument(
        "--demo", action="store_true", help="use the offline demo's replayed controller policy"
    )
    served.add_argument(
        "--experts-only", action="store_true", help="deploy only the experts, no HTTP service"
    )
    served.set_defaults(func=serve)
    experts = sub.add_parser("experts", help="list the experts deployed on the cluster")
    experts.add_argument("--config", help="YAML config (for the app-name prefix)")
    experts.add_argument("--address", help="Ray address (default: RAY_ADDRESS)")
    experts.set_defaults(func=commands.experts)
    keys = sub.add_parser("key", help="make a new API key for a service, and its hash for the config")
    keys.set_defaults(func=key)
    return parser


def version() -> str:
    """The installed package's version, or a note saying it is not installed (run from a checkout)."""
    try:
        return metadata.version("mm-reactor")
    except metadata.PackageNotFoundError:
        return "(version unknown: mm-reactor is not installed; pip install -e . in the checkout)"


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
