"""Config and controller mistakes fail before Ray starts, saying what to fix (orchestrator/preflight.py)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from orchestrator import preflight
from orchestrator.cli.main import main
from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from orchestrator.sdk import Orchestrator
from orchestrator.serving.runtime import ExpertRuntime

LIGHT = {"crop": {}, "draw_boxes": {}}


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch, tmp_path):
    """Every case here must fail before Ray starts: starting it is a test failure."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("Ray was started: the mistake was not caught by the preflight")

    monkeypatch.setattr(ExpertRuntime, "start", refuse)
    monkeypatch.setenv("MM_REACTOR_DATA", str(tmp_path / "data"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Models(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"data": [{"id": "m"}]}')

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def endpoint():
    """A server answering GET /v1/models with the status the test sets on the handler class."""
    handler = type("Handler", (_Models,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_a_bad_expert_class_path_fails_before_ray():
    with pytest.raises(ConfigError, match=r"cannot import module 'no_such_pkg\.mod'"):
        Orchestrator.local({"experts": {**LIGHT, "mine": {"class": "no_such_pkg.mod:Mine"}}})


def test_bad_expert_options_fail_before_ray():
    with pytest.raises(ConfigError, match=r"(?s)experts\.ocr\.options: .*limit_sidelen"):
        Orchestrator.local({"experts": {"ocr": {"options": {"limit_sidelen": 960}}}})


@pytest.mark.parametrize(
    "setting, key",
    [
        ({"checkpointer": {"class": "no_such_pkg.saver:open_saver"}}, "checkpointer"),
        ({"artifact_store": {"class": "no_such_pkg.store:Store"}}, "artifact_store"),
        ({"controller": {"backend": {"class": "no_such_pkg.llm:Chat"}}}, "controller.backend"),
    ],
)
def test_extension_class_paths_resolve_before_ray(setting, key):
    with pytest.raises(ConfigError, match=rf"(?s){key} in the config cannot be used: .*no_such_pkg"):
        Orchestrator.local({"experts": LIGHT, **setting})


def test_extension_options_must_bind_before_ray():
    bad = {"checkpointer": {"name": "sqlite", "options": {"no_such_option": 1}}}
    with pytest.raises(ConfigError, match=r"(?s)checkpointer in the config cannot be used: .*no_such_option"):
        Orchestrator.local({"experts": LIGHT, **bad})


def test_an_unreachable_controller_endpoint_is_named_before_ray(monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    monkeypatch.setenv("MM_REACTOR_LLM_BASE_URL", url)
    monkeypatch.setenv("MM_REACTOR_LLM_MODEL", "qwen")
    with pytest.raises(ConfigError, match=f"endpoint {url} does not answer.*MM_REACTOR_LLM_BASE_URL"):
        Orchestrator.local({"experts": LIGHT})
    assert main(["run", "read the sign", "--image", "sign.png"]) == 2


def test_a_chat_model_given_skips_the_configured_controller(monkeypatch):
    monkeypatch.setenv("MM_REACTOR_LLM_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    monkeypatch.setenv("MM_REACTOR_LLM_MODEL", "qwen")
    with pytest.raises(AssertionError, match="Ray was started"):  # got past the preflight
        Orchestrator.local({"experts": LIGHT}, chat_model=SimpleNamespace())


def test_the_endpoint_check_accepts_a_server_and_names_a_refused_key(endpoint):
    handler, url = endpoint
    preflight.check_endpoint(url)
    handler.status = 404  # no /models route: still a server that answers
    preflight.check_endpoint(url)
    handler.status = 401
    with pytest.raises(ConfigError, match=f"{url} refused the request \\(401\\).*MM_REACTOR_LLM_API_KEY"):
        preflight.check_endpoint(url, api_key="wrong")


def test_an_openai_backend_without_a_model_says_what_to_set():
    config = load_config({"controller": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1"}})
    with pytest.raises(ConfigError, match=r"needs controller.model.*MM_REACTOR_LLM_MODEL"):
        preflight.check_controller(config.controller)


def test_experts_that_cannot_fit_an_embedded_ray_fail_before_it_starts(monkeypatch):
    monkeypatch.setattr(preflight, "_ray_running", lambda: False)
    config = load_config(
        {"ray": {"num_cpus": 1}, "experts": {"ocr": {"ray_actor_options": {"num_cpus": 1}}, **LIGHT}}
    )
    with pytest.raises(ConfigError, match=r"reserve 1\.2 CPUs in all \(most: ocr 1.*embedded Ray has 1"):
        preflight.check(config, ExpertRuntime(config.ray), deploy=True, controller_given=True)
    packaged = load_config()  # the default experts fit a 2-core machine
    preflight.check(
        packaged.model_copy(update={"ray": packaged.ray.model_copy(update={"num_cpus": 2})}),
        ExpertRuntime(packaged.ray),
        deploy=True,
        controller_given=True,
    )


def test_the_missing_controller_error_names_what_the_sdk_and_cli_take(capsys):
    fake = SimpleNamespace(chat_model=None, config=load_config({"experts": {}}))
    with pytest.raises(ConfigError) as caught:
        Orchestrator._controller(fake, None)  # type: ignore[arg-type]
    text = str(caught.value)
    assert "script=" not in text
    for needed in ("chat_model=", "MM_REACTOR_LLM_BASE_URL", "MM_REACTOR_LLM_MODEL", "controller.backend"):
        assert needed in text
    assert "`reactor demo` runs offline" in text
    assert main(["run", "read this", "--image", "x.png"]) == 2
    err = capsys.readouterr().err
    assert "MM_REACTOR_LLM_BASE_URL" in err and "script=" not in err
