"""``reactor serve`` (the experts and the HTTP service, on a cluster or ``--local``) and ``reactor key``."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

from llm.config import ControllerConfig
from orchestrator.cli.commands import cluster_config
from orchestrator.cli.output import console, progress
from orchestrator.config import ReactorConfig, load_config
from orchestrator.errors import ConfigError
from orchestrator.preflight import check
from orchestrator.service.keys import KEY_FILE, KeyRing, hash_key, local_key, new_key

if TYPE_CHECKING:
    from orchestrator.serving.runtime import ExpertRuntime

__all__ = ["key", "serve"]

DEMO_BACKEND = "orchestrator.cli.demo:demo_backend"


def _service_config(args: argparse.Namespace) -> ReactorConfig:
    if args.local:
        os.environ.pop("RAY_ADDRESS", None)  # --local never joins a cluster
        config = load_config(args.config)
        config = config.model_copy(update={"ray": config.ray.model_copy(update={"address": None})})
    else:
        config = cluster_config(args)
    if args.demo:
        demo = ControllerConfig.model_validate({"backend": {"class": DEMO_BACKEND}})
        config = config.model_copy(update={"controller": demo})
    updates: dict[str, Any] = {}
    if args.host:
        updates["host"] = args.host
    if args.port:
        updates["port"] = args.port
    return config.model_copy(update={"service": config.service.model_copy(update=updates)})


def _with_keys(config: ReactorConfig, local: bool) -> tuple[ReactorConfig, str]:
    """The config holding every accepted key's hash, and what to tell the user about the key."""
    keys = KeyRing.from_sources(config.service.api_key_hashes)
    note = "API keys: from MM_REACTOR_API_KEYS / service.api_key_hashes"
    if not keys:
        if not local:
            raise ConfigError(
                "the service needs API keys: set MM_REACTOR_API_KEYS (comma-separated) or "
                "service.api_key_hashes in the config (`reactor key` makes a key and its hash)"
            )
        key, created = local_key(config.data_dir)
        keys = KeyRing([hash_key(key)])
        path = config.data_dir / KEY_FILE
        note = f"API key (shown once, kept in {path}): {key}" if created else f"API key: the one in {path}"
    service = config.service.model_copy(update={"api_key_hashes": keys.hashes})
    return config.model_copy(update={"service": service}), note


def _checked(config: ReactorConfig, args: argparse.Namespace, *, controller: bool) -> ExpertRuntime:
    """A runtime for ``config``, checked before Ray starts (:mod:`orchestrator.preflight`); Ray quiet."""
    from orchestrator.cli.quiet import quiet_ray
    from orchestrator.serving.runtime import ExpertRuntime

    quiet_ray(args.verbose)
    runtime = ExpertRuntime(config.ray)
    check(config, runtime, deploy=True, controller_given=not controller)
    return runtime


def _experts_only(args: argparse.Namespace) -> int:
    if args.local:
        raise ConfigError("--experts-only deploys to a running cluster; it does not combine with --local")
    config = cluster_config(args)
    runtime = _checked(config, args, controller=False)
    runtime.start()
    deployed = runtime.deploy(config.enabled_experts(), app_prefix=config.ray.app_prefix)
    print(f"deployed {len(deployed)} experts on {runtime.address}: " + ", ".join(d.name for d in deployed))
    runtime.disconnect()
    return 0


def serve(args: argparse.Namespace) -> int:
    from orchestrator.service.deploy import deploy_service, service_url

    if args.experts_only:
        return _experts_only(args)
    config, note = _with_keys(_service_config(args), args.local)
    _checked(config, args, controller=True)  # the service's controller, when one is configured, answers
    con = console()
    if args.demo:
        con.print(
            "the controller is the offline demo's REPLAY policy (scripted, labelled as such in every result)"
        )
    where = "an embedded Ray" if args.local else config.ray.address
    with progress(con, f"starting the experts and the service on {where} …"):
        runtime = deploy_service(
            config,
            local=args.local,
            on_ready=lambda name, seconds: con.print(f"  ✓ {name} ready ({seconds:.1f} s)"),
        )
    url = service_url(config)
    con.print(f"deployed {len(runtime.catalogue)} experts: {', '.join(runtime.catalogue.names())}")
    con.print(f"mm-reactor is serving at {url}/ (web page), {url}/docs (API), {url}/v1 (REST)")
    con.print(note)
    if not args.local:
        runtime.disconnect()
        return 0
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    con.print("press Ctrl-C to stop")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        con.print("stopping the service and Ray …")
        runtime.close()
    con.print("stopped")
    return 0


def key(args: argparse.Namespace) -> int:
    """Print a new API key and the line that makes a service accept it."""
    made = new_key()
    print(f"API key (give it to the client; it is not stored anywhere): {made}")
    print(f'config:  service: {{api_key_hashes: ["{hash_key(made)}"]}}')
    print(f"or run the service with: MM_REACTOR_API_KEYS={made}")
    return 0
