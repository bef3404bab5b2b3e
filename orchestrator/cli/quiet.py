"""Keep Ray's own chatter out of the ``reactor`` command's output unless ``--verbose`` asks for it.

A clean run otherwise prints Serve's INFO lines (``Started Serve in namespace``, ``Connecting to
existing Serve app … will not be applied``, ``Started <…SharedRouterLongPollClient …>``) and the
raylet's notes pushed to the driver, which look like errors though nothing failed (``(raylet) Task
ServeController.graceful_shutdown failed … killed by ray.kill`` when Serve shuts down, ``(raylet)
WARNING: 8 PYTHON worker processes have been started`` while replicas start). Real failures still
reach the user: they are raised as mm-reactor errors with what to do.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["quiet_ray"]

log = logging.getLogger("orchestrator.cli.ray")
_SERVE_LOGGER = "ray.serve"


def quiet_ray(verbose: bool) -> None:
    """Serve's driver-side INFO lines and the raylet's notes: shown with ``verbose``, else logged at DEBUG.

    Call it after Ray is imported (importing ``ray.serve`` sets its logger's level) and before Ray starts.
    """
    logging.getLogger(_SERVE_LOGGER).setLevel(logging.INFO if verbose else logging.WARNING)
    if verbose:
        return
    # Ray prints the notes its raylet pushes to the driver through this module-level function (a thread
    # looks it up per message); Ray offers no setting for it. Where a Ray release moves it, nothing changes.
    from ray._private import worker

    printer = getattr(worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "_mm_reactor_quiet", False):
        return

    def quiet_printer(data: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        if data.get("pid") == "raylet":
            for line in data.get("lines") or []:
                log.debug("(raylet) %s", line)
            return
        printer(data, *args, **kwargs)

    quiet_printer._mm_reactor_quiet = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = quiet_printer
