"""Turn any expert plus its config entry into a Ray Serve deployment.

The replica loads the expert once (``setup()``; a failure there is raised as :class:`ExpertSetupError`
carrying the cause, which the orchestrator reads back from ``serve.status()``), resolves the
:class:`~experts.protocol.PixelRef` s in a call's arguments from Ray's object store, validates them
against the expert's ``Input`` model, runs the expert in a thread of its own and answers with a
:class:`~experts.protocol.Reply`. New images and masks are put into the object store here, so the
next call can take them straight from there. An expert failure becomes a failed reply (logged here
with its traceback), never an exception in the orchestrator.

A call its caller gave up on (a timeout) is cancelled here; its thread cannot be stopped, so the
replica's health check fails once such work runs past its time, and Serve replaces the replica
(:mod:`experts._replica_work`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import ray
from pydantic import BaseModel, ValidationError
from ray import serve
from ray.exceptions import ObjectLostError
from ray.serve import Application

from experts import deployment_defaults as defaults
from experts._replica_work import CallRunner
from experts.base import Expert, ExpertError
from experts.protocol import PixelRef, Reply, format_validation_error, pack_output
from redaction import redact

__all__ = ["ExpertReplica", "ExpertSetupError", "answer", "build_expert_app", "error_text"]

log = logging.getLogger(__name__)
MAX_TRACEBACK_CHARS = 12_000
SETUP_FRAMES = 4
"""Frames of a failed ``setup()``'s traceback that its :class:`ExpertSetupError` carries."""


class ExpertSetupError(RuntimeError):
    """An expert's ``setup()`` failed in a replica: the exception type, message and last frames."""


def error_text(err: BaseException) -> str:
    """``Type: message`` of an exception, never empty-handed: a bare exception says it had no message."""
    message = str(err).strip()
    if not message:
        message = "(no message; the traceback in the trace shows where it was raised)"
    return f"{type(err).__name__}: {message}"


def _setup_failure(name: str, err: BaseException) -> ExpertSetupError:
    frames = traceback.extract_tb(err.__traceback__)[-SETUP_FRAMES:]
    where = "".join(traceback.format_list(frames)).rstrip()
    return ExpertSetupError(redact(f"setup() of expert '{name}' failed: {error_text(err)}\n{where}"))


def _serve_grpc_on_loopback() -> None:
    """On a node whose address is 127.0.0.1 (the embedded Ray), keep Serve's replica gRPC server there.

    Ray Serve 2.60 binds each replica's inter-deployment gRPC server to ``[::]:0`` (every interface)
    whatever the node's address; every other Ray process of such a node listens on 127.0.0.1 only.
    The replica starts that server after this class is constructed, through the module-level
    ``add_port_to_grpc_server`` that is rebound here. ``tests/test_safe_defaults.py`` checks every
    listening socket, so a Ray release that moves this fails there.
    """
    if ray.util.get_node_ip_address() not in ("127.0.0.1", "::1"):
        return
    from ray.serve._private import replica as serve_replica

    original = getattr(serve_replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "loopback_only", False):
        return

    def add_port_on_loopback(server: Any, address: str) -> Any:
        return original(server, address.replace("[::]", "127.0.0.1", 1))

    add_port_on_loopback.loopback_only = True  # type: ignore[attr-defined]
    serve_replica.add_port_to_grpc_server = add_port_on_loopback


class _LostPixels(Exception):
    def __init__(self, lost: list[PixelRef]) -> None:
        self.lost = lost
        super().__init__(", ".join(ref.handle for ref in lost))


async def _resolve(value: Any, lost: list[PixelRef]) -> Any:
    """Arguments with every PixelRef replaced by its pixels; refs whose object is gone go to ``lost``."""
    if isinstance(value, PixelRef):
        try:
            return value.data(await value.ref)
        except ObjectLostError:
            lost.append(value)
            return None
    if isinstance(value, dict):
        keys = list(value)
        resolved = await asyncio.gather(*(_resolve(value[k], lost) for k in keys))
        return dict(zip(keys, resolved, strict=True))
    if isinstance(value, list):
        return list(await asyncio.gather(*(_resolve(v, lost) for v in value)))
    return value


async def _resolve_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Fetch the pixels the arguments refer to; raises ``_LostPixels`` naming those no longer stored."""
    lost: list[PixelRef] = []
    resolved = await _resolve(arguments, lost)
    if lost:
        raise _LostPixels(lost)
    return resolved


class ExpertReplica:
    """One Serve replica of one expert; with ``batching`` set, concurrent calls share a forward pass."""

    def __init__(
        self,
        expert_cls: type[Expert],
        settings: dict[str, Any],
        batching: dict[str, Any] | None = None,
        timeout_s: float = defaults.TIMEOUT_S,
    ) -> None:
        _serve_grpc_on_loopback()
        self._expert = expert_cls(settings)
        try:
            self._expert.setup()
        except Exception as err:
            log.error("setup() of expert %s failed\n%s", expert_cls.name, redact(traceback.format_exc()))
            raise _setup_failure(expert_cls.name, err) from None
        self._timeout_s = timeout_s
        self._work = CallRunner(serial=not expert_cls.thread_safe, limit_s=timeout_s + defaults.STUCK_GRACE_S)
        self._batching = batching is not None
        if batching is not None:
            self._batched.set_max_batch_size(int(batching["max_batch_size"]))  # type: ignore[attr-defined]
            self._batched.set_batch_wait_timeout_s(float(batching["batch_wait_timeout_s"]))  # type: ignore[attr-defined]
        context = serve.get_replica_context()
        node = ray.get_runtime_context().get_node_id()[:8]
        self._replica = f"{context.deployment}#{context.replica_id.unique_id}@{node}"

    @serve.batch(max_batch_size=defaults.MAX_BATCH_SIZE, batch_wait_timeout_s=defaults.BATCH_WAIT_TIMEOUT_S)
    async def _batched(self, batch: list[BaseModel]) -> list[BaseModel | ExpertError]:
        results = await self._work.run(self._expert.run_batch, batch)
        if len(results) != len(batch):
            raise RuntimeError(
                f"{self._expert.name}.run_batch returned {len(results)} results for {len(batch)}"
            )
        return results

    async def _run(self, inputs: BaseModel) -> BaseModel:
        if not self._batching:
            return await self._work.run(self._expert.run, inputs)
        result = await self._batched(inputs)
        if isinstance(result, ExpertError):
            raise result
        return result

    async def __call__(self, arguments: dict[str, Any], inline: bool = False) -> Reply:
        return await answer(self._expert, arguments, self._run, self._replica, inline=inline)

    def check_health(self) -> None:
        """Serve's periodic probe: unhealthy while a call runs far past its time (Serve then replaces
        this replica, the only way to end a thread that does not return)."""
        stuck = self._work.stuck()
        if stuck:
            raise RuntimeError(
                f"{len(stuck)} call(s) of expert '{self._expert.name}' still running after "
                f"{stuck[0]:.0f} s (timeout_s {self._timeout_s:g} s); this replica is replaced"
            )


def _inline(array: Any) -> Any:
    return array


async def answer(
    expert: Expert,
    arguments: dict[str, Any],
    run: Callable[[BaseModel], Awaitable[BaseModel]],
    replica: str,
    *,
    inline: bool = False,
) -> Reply:
    """One call: resolve the pixels, validate, ``await run(inputs)``, and pack the output into a Reply.

    New images and masks go into Ray's object store (``ray.put``, owned by this replica); the reply
    carries their references and content ids. ``inline``: the reply carries the pixels themselves, for
    a caller that cannot borrow this replica's references (one inside a Ray actor: Ray frees an object
    nested in a Serve reply to an actor when this call returns; see ``orchestrator/agent/pixels.py``).
    """
    started = time.perf_counter()
    try:
        inputs = expert.Input.model_validate(await _resolve_arguments(arguments))
    except _LostPixels as err:
        handles = ", ".join(ref.handle for ref in err.lost)
        return Reply.failed(
            replica,
            "resource",
            f"the pixels of {handles} are no longer in Ray's object store (the replica that made them "
            "stopped); send the call again",
            lost=[ref.content_id for ref in err.lost],
        )
    except ValidationError as err:
        return Reply.failed(replica, "arguments", format_validation_error(expert.name, err))
    try:
        output = await run(inputs)
        if not isinstance(output, expert.Output):
            raise TypeError(f"{expert.name}.run returned {type(output).__name__}, not its Output model")
        plain, artifacts = await asyncio.to_thread(pack_output, output, _inline if inline else ray.put)
    except ExpertError as err:
        message = (
            str(err).strip()
            or f"{expert.name} refused these inputs but gave no reason; check them against its description"
        )
        return Reply.failed(replica, "input", redact(message))
    except Exception as err:  # an expert bug or a model failure: report it, keep the replica
        trace = redact(traceback.format_exc())
        log.error("expert %s failed on replica %s\n%s", expert.name, replica, trace)
        return Reply.failed(
            replica,
            "expert",
            redact(f"{expert.name} failed: {error_text(err)}"),
            traceback=trace[-MAX_TRACEBACK_CHARS:],
        )
    return Reply(replica=replica, seconds=time.perf_counter() - started, output=plain, artifacts=artifacts)


def build_expert_app(
    expert_cls: type[Expert],
    *,
    deployment_name: str,
    settings: dict[str, Any] | None = None,
    num_replicas: int | None = defaults.NUM_REPLICAS,
    autoscaling_config: dict[str, Any] | None = None,
    ray_actor_options: dict[str, Any] | None = None,
    max_ongoing_requests: int = defaults.MAX_ONGOING_REQUESTS,
    batching: dict[str, Any] | None = None,
    timeout_s: float = defaults.TIMEOUT_S,
) -> Application:
    """A Serve application running ``expert_cls`` with the given deployment settings.

    ``settings`` are validated against the expert's ``Settings`` here, before anything is
    deployed, so a typo in the config fails fast with the expert's name in the message.
    ``batching`` (``{"max_batch_size": ..., "batch_wait_timeout_s": ...}``) turns on ``@serve.batch``:
    concurrent calls are grouped and passed to the expert's ``run_batch``. ``timeout_s`` is how long
    the orchestrator waits for a call: work running well past it makes the replica unhealthy, and
    Serve replaces it. Unset values take :mod:`experts.deployment_defaults`.
    """
    try:
        checked = expert_cls.Settings.model_validate(settings or {})
    except ValidationError as err:
        raise ValueError(f"invalid options for expert '{expert_cls.name}':\n{err}") from None
    options: dict[str, Any] = {
        "name": deployment_name,
        "max_ongoing_requests": max_ongoing_requests,
        "ray_actor_options": dict(ray_actor_options or defaults.ray_actor_options()),
        "health_check_period_s": defaults.HEALTH_CHECK_PERIOD_S,
    }
    if autoscaling_config is not None:
        options["autoscaling_config"] = autoscaling_config
    else:
        options["num_replicas"] = num_replicas or defaults.NUM_REPLICAS
    deployment = serve.deployment(**options)(ExpertReplica)
    return deployment.bind(expert_cls, checked.model_dump(), batching, timeout_s)
