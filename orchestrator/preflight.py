"""Checks made before anything starts: what a config names must exist, and a configured controller answer.

``Orchestrator.local()`` and the ``reactor`` commands call :func:`check` before Ray starts, so a
mistake in the config fails in a fraction of a second with what to fix, instead of after Ray has
started and the experts deployed. Checked here: every expert's class (``class:`` path or built-in
name), its extra and its ``options`` against its Settings; that the experts fit an embedded Ray's
CPUs; that the checkpointer, the artifact store and the controller backend (registered names or
``class:`` paths) resolve and take their options; and that a configured OpenAI-compatible endpoint
answers (one bounded HTTP request).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError

from extensions import ARTIFACT_STORES, CHECKPOINTERS, LLM_BACKENDS, ExtensionNotFound, ExtensionRef, resolve
from extensions.lookup import check_options
from llm.config import ENV_BASE_URL, ENV_MODEL, ControllerConfig
from orchestrator.config import ExpertDeployment, ReactorConfig
from orchestrator.errors import ConfigError
from redaction import redact

if TYPE_CHECKING:  # the Ray side is imported only by the checks that need it: the others stay fast
    from orchestrator.serving.runtime import ExpertRuntime

__all__ = [
    "CONNECT_TIMEOUT_S",
    "check",
    "check_controller",
    "check_endpoint",
    "no_controller",
    "require_controller",
]

CONNECT_TIMEOUT_S = 2.0
"""How long the endpoint check waits for a connection (a refused one fails at once)."""
READ_TIMEOUT_S = 5.0
"""How long it waits for the answer once connected (a server that accepted the connection is up)."""


def check(config: ReactorConfig, runtime: ExpertRuntime, *, deploy: bool, controller_given: bool) -> None:
    """Everything that can be checked before Ray starts; :class:`ConfigError` saying what to fix.

    ``deploy``: the experts will be deployed from here (their classes, extras, options and CPUs
    are checked). ``controller_given``: the caller passed a chat model, so the configured controller
    is not checked.
    """
    experts = config.enabled_experts()
    if deploy:
        from orchestrator.serving.runtime import expert_classes

        classes = expert_classes(experts)
        runtime.preflight(experts)
        _check_options(experts, classes)
        if not runtime.address and not _ray_running():  # an embedded Ray will start
            _check_cpus(experts, config.ray.num_cpus)
    _check_extension(CHECKPOINTERS, config.checkpointer, (config,), "checkpointer")
    if isinstance(config.artifact_store, ExtensionRef):
        _check_extension(ARTIFACT_STORES, config.artifact_store, (), "artifact_store")
    if not controller_given:
        check_controller(config.controller)


def check_controller(controller: ControllerConfig) -> None:
    """The configured backend resolves; an OpenAI-compatible one has its URL and model, and answers.

    The ``scripted`` default is not checked: a run given no chat model says then what to set.
    """
    if controller.backend_name == "scripted":
        return
    _check_extension(LLM_BACKENDS, controller.backend, (controller,), "controller.backend")
    if controller.backend_name != "openai":
        return
    if not controller.base_url or not controller.model:
        missing = "base_url" if not controller.base_url else "model"
        raise ConfigError(
            f"the openai controller backend needs controller.{missing}: set ${ENV_BASE_URL} and "
            f"${ENV_MODEL} (or controller.base_url and controller.model in the config)"
        )
    check_endpoint(
        controller.base_url, api_key=controller.resolved_api_key(), headers=controller.extra_headers
    )


def check_endpoint(
    base_url: str, *, api_key: str | None = None, headers: dict[str, str] | None = None
) -> None:
    """One ``GET {base_url}/models``: :class:`ConfigError` naming the URL when nothing answers there,
    or when the server refuses the key. Any other answer (even a 404) means a server is listening."""
    url = base_url.rstrip("/") + "/models"
    sent = dict(headers or {})
    if api_key:
        sent["Authorization"] = f"Bearer {api_key}"
    timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    try:  # a plain-HTTP URL needs no TLS context (loading the CA bundle alone can take a second)
        response = httpx.get(url, headers=sent, timeout=timeout, verify=url.startswith("https://"))
    except httpx.ReadTimeout:
        return  # connected: the server is up, only slow to list its models
    except (httpx.HTTPError, httpx.InvalidURL) as err:
        raise ConfigError(
            f"the controller LLM endpoint {redact(base_url)} does not answer ({type(err).__name__}: "
            f"{redact(str(err)) or 'no reply'}). Start the server (vLLM, Ollama …), or fix "
            f"${ENV_BASE_URL} / controller.base_url; `reactor demo` runs offline without one."
        ) from None
    if response.status_code in (401, 403):
        raise ConfigError(
            f"the controller LLM endpoint {redact(base_url)} refused the request ({response.status_code}): "
            "set its API key in MM_REACTOR_LLM_API_KEY (or controller.api_key)"
        )


def no_controller(err: Exception | None = None) -> ConfigError:
    """The error for a run that needs a controller LLM and has none."""
    why = f" ({err})" if err is not None and "script" not in str(err) else ""
    return ConfigError(
        f"no controller LLM is configured{why}. Set MM_REACTOR_LLM_BASE_URL and MM_REACTOR_LLM_MODEL "
        "for an OpenAI-compatible server (vLLM, Ollama, OpenAI …), or controller.backend in the config; "
        "from Python, pass chat_model=… (any llm.base.ChatModel, e.g. llm.scripted.ScriptedChatModel); "
        "`reactor demo` runs offline with a replayed controller."
    )


def require_controller(config: ReactorConfig) -> None:
    """For commands that need a controller: :class:`ConfigError` when none is configured, or it fails
    :func:`check_controller`."""
    if config.controller.backend_name == "scripted":
        raise no_controller()
    check_controller(config.controller)


def _ray_running() -> bool:
    """Ray is already initialised in this process (the runtime joins it as it is)."""
    ray = sys.modules.get("ray")
    return bool(ray and ray.is_initialized())


def _check_extension(group: str, setting: str | ExtensionRef, args: tuple[Any, ...], key: str) -> None:
    try:
        factory, options = resolve(group, setting)
        check_options(factory, args, options, what=key)
    except (ExtensionNotFound, TypeError) as err:
        raise ConfigError(f"{key} in the config cannot be used: {err}") from None


def _check_options(experts: dict[str, ExpertDeployment], classes: dict[str, Any]) -> None:
    problems = []
    for name, entry in experts.items():
        try:
            classes[name].settings_of(entry.options)
        except ValidationError as err:
            problems.append(f"- experts.{name}.options: {err}")
    if problems:
        raise ConfigError("invalid expert options in the config:\n" + "\n".join(problems))


def _check_cpus(experts: dict[str, ExpertDeployment], num_cpus: int | None) -> None:
    """An embedded Ray has this machine's CPUs (or ``ray.num_cpus``) and no more: experts asking for
    more would wait until ``ray.deploy_timeout_s``."""
    from orchestrator.serving.resources import demand_of

    if num_cpus:
        have: int | None = num_cpus
    else:
        have = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    demands = [demand_of(name, entry) for name, entry in experts.items()]
    asked = sum(d.total("CPU") for d in demands)
    if have and asked > have + 1e-9:
        biggest = sorted(demands, key=lambda d: d.total("CPU"), reverse=True)[:3]
        who = ", ".join(f"{d.name} {d.total('CPU'):g}" for d in biggest)
        raise ConfigError(
            f"the enabled experts reserve {asked:g} CPUs in all (most: {who}), but the embedded Ray has "
            f"{have}: lower their ray_actor_options.num_cpus (a reservation, not a limit: 0.05 is fine "
            "for light experts), disable some (enabled: false), set ray.num_cpus, or join a cluster "
            "(ray.address / RAY_ADDRESS)"
        )
