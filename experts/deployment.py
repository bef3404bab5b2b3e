"""Turn any expert plus its config entry into a Ray Serve deployment.

The replica loads the expert once (``setup()``), resolves image/mask references from
Ray's object store, validates the arguments against the expert's ``Input`` model, runs
the expert in a worker thread and answers with a plain envelope::

    {"ok": True, "output": {...}, "replica": "ocr#abc123", "seconds": 0.21}
    {"ok": False, "error": "...", "error_type": "input" | "arguments" | "crash", ...}

so an expert failure becomes an observation, never an exception in the orchestrator.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import ray
from pydantic import BaseModel, ValidationError
from ray import ObjectRef, serve
from ray.serve import Application

from experts import deployment_defaults as defaults
from experts.base import Expert, ExpertError, ImageData, MaskData

__all__ = ["ExpertReplica", "WireRef", "build_expert_app", "format_validation_error"]


@dataclass(frozen=True)
class WireRef:
    """An artifact sent to a replica: its handle, kind and pixels in Ray's object store."""

    handle: str
    kind: str
    ref: ObjectRef


def format_validation_error(tool: str, err: ValidationError, errors: list[Any] | None = None) -> str:
    """A short, controller-readable account of which arguments were wrong."""
    problems = []
    for item in (err.errors() if errors is None else errors)[:6]:
        where = ".".join(str(part) for part in item.get("loc", ())) or "(arguments)"
        message = item.get("msg", "invalid").removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return f"invalid arguments for {tool}: " + "; ".join(problems)


async def _resolve(value: Any) -> Any:
    if isinstance(value, WireRef):
        array = await value.ref
        return ImageData(value.handle, array) if value.kind == "image" else MaskData(value.handle, array)
    if isinstance(value, dict):
        keys = list(value)
        resolved = await asyncio.gather(*(_resolve(value[k]) for k in keys))
        return dict(zip(keys, resolved, strict=True))
    if isinstance(value, list):
        return list(await asyncio.gather(*(_resolve(v) for v in value)))
    return value


def _to_wire(value: Any) -> Any:
    """Output model → plain containers, keeping NewImage/NewMask/… objects as they are."""
    if isinstance(value, BaseModel):
        return {name: _to_wire(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_wire(v) for v in value]
    return value


class ExpertReplica:
    """One Serve replica of one expert; with ``batching`` set, concurrent calls share a forward pass."""

    def __init__(
        self, expert_cls: type[Expert], settings: dict[str, Any], batching: dict[str, Any] | None = None
    ) -> None:
        self._expert = expert_cls(settings)
        self._expert.setup()
        self._lock = threading.Lock() if not expert_cls.thread_safe else None
        self._batching = batching is not None
        if batching is not None:
            self._batched.set_max_batch_size(int(batching["max_batch_size"]))  # type: ignore[attr-defined]
            self._batched.set_batch_wait_timeout_s(float(batching["batch_wait_timeout_s"]))  # type: ignore[attr-defined]
        context = serve.get_replica_context()
        node = ray.get_runtime_context().get_node_id()[:8]
        self._replica = f"{context.deployment}#{context.replica_id.unique_id}@{node}"

    def _locked(self, fn: Any, arg: Any) -> Any:
        if self._lock is None:
            return fn(arg)
        with self._lock:
            return fn(arg)

    @serve.batch(max_batch_size=defaults.MAX_BATCH_SIZE, batch_wait_timeout_s=defaults.BATCH_WAIT_TIMEOUT_S)
    async def _batched(self, batch: list[BaseModel]) -> list[BaseModel | ExpertError]:
        results = await asyncio.to_thread(self._locked, self._expert.run_batch, batch)
        if len(results) != len(batch):
            raise RuntimeError(
                f"{self._expert.name}.run_batch returned {len(results)} results for {len(batch)}"
            )
        return results

    async def _run(self, inputs: BaseModel) -> BaseModel:
        if not self._batching:
            return await asyncio.to_thread(self._locked, self._expert.run, inputs)
        result = await self._batched(inputs)
        if isinstance(result, ExpertError):
            raise result
        return result

    async def __call__(self, arguments: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        expert = self._expert
        envelope: dict[str, Any] = {"replica": self._replica}
        try:
            inputs = expert.Input.model_validate(await _resolve(arguments))
        except ValidationError as err:
            return envelope | {
                "ok": False,
                "error_type": "arguments",
                "error": format_validation_error(expert.name, err),
            }
        try:
            output = await self._run(inputs)
            if not isinstance(output, expert.Output):
                raise TypeError(f"{expert.name}.run returned {type(output).__name__}, not its Output model")
        except ExpertError as err:
            return envelope | {"ok": False, "error_type": "input", "error": str(err)}
        except Exception as err:  # an expert bug or a model failure: report it, keep the replica
            return envelope | {
                "ok": False,
                "error_type": "crash",
                "error": f"{expert.name} failed: {type(err).__name__}: {err}",
                "traceback": traceback.format_exc(limit=8),
            }
        return envelope | {"ok": True, "output": _to_wire(output), "seconds": time.perf_counter() - started}


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
) -> Application:
    """A Serve application running ``expert_cls`` with the given deployment settings.

    ``settings`` are validated against the expert's ``Settings`` here, before anything is
    deployed, so a typo in the config fails fast with the expert's name in the message.
    ``batching`` (``{"max_batch_size": ..., "batch_wait_timeout_s": ...}``) turns on ``@serve.batch``:
    concurrent calls are grouped and passed to the expert's ``run_batch``. Unset values take
    :mod:`experts.deployment_defaults`.
    """
    try:
        checked = expert_cls.Settings.model_validate(settings or {})
    except ValidationError as err:
        raise ValueError(f"invalid options for expert '{expert_cls.name}':\n{err}") from None
    options: dict[str, Any] = {
        "name": deployment_name,
        "max_ongoing_requests": max_ongoing_requests,
        "ray_actor_options": dict(ray_actor_options or defaults.ray_actor_options()),
    }
    if autoscaling_config is not None:
        options["autoscaling_config"] = autoscaling_config
    else:
        options["num_replicas"] = num_replicas or defaults.NUM_REPLICAS
    deployment = serve.deployment(**options)(ExpertReplica)
    return deployment.bind(expert_cls, checked.model_dump(), batching)
