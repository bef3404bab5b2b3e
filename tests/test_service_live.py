"""`reactor serve --local` for real: a process with its own embedded Ray, Serve's HTTP proxy on 127.0.0.1,
the remote Client, `reactor run --url`, the web page in headless Chromium, the README's Service examples,
and Ctrl-C. The service runs the offline demo's replayed controller (``--demo``)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from orchestrator.cli.demo import DEMO_TASK, make_demo_image
from tests.support.browser import screenshot, severe_logs

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CONFIG = """
checkpointer: sqlite
ray: {num_cpus: 4, app_prefix: "live-"}
experts:
  ocr: {ray_actor_options: {num_cpus: 1}}
  crop: {}
  draw_boxes: {}
"""


@dataclass
class Live:
    url: str
    key: str
    data_dir: Path
    process: subprocess.Popen
    log: Path
    sign: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MM_REACTOR_DATA": str(self.data_dir),
            "MM_REACTOR_API_KEY": self.key,
            "RAY_AUTH_MODE": "disabled",
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live")
    (root / "config.yaml").write_text(CONFIG)
    sign = root / "sign.png"
    make_demo_image().save(sign)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MM_REACTOR_DATA": str(root / "data"),
        "RAY_AUTH_MODE": "disabled",
    }
    env.pop("MM_REACTOR_API_KEYS", None)
    env.setdefault("RAY_raylet_start_wait_time_s", "180")  # a loaded CI machine starts Ray slowly
    log = root / "serve.log"
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "orchestrator.cli.main",
        "serve",
        "--local",
        "--demo",
        "--port",
        str(port),
    ]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "--config", str(root / "config.yaml")], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 400
    while "press Ctrl-C" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"reactor serve --local did not start:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    text = log.read_text()
    url = re.search(r"serving at (http://\S+)/ ", text).group(1)
    key = re.search(r"API key \(shown once, kept in \S+\): (\S+)", text).group(1)
    try:
        yield Live(url, key, root / "data", process, log, sign)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()


def _listening(port: int) -> list[str]:
    """The local addresses listening on ``port`` (from /proc/net/tcp)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_serve_local_binds_loopback_and_keeps_its_key_private(live):
    assert live.url.startswith("http://127.0.0.1:")
    assert _listening(int(live.url.rsplit(":", 1)[1])) == ["127.0.0.1"]
    key_file = live.data_dir / "api-key"
    assert key_file.read_text().strip() == live.key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert httpx.get(f"{live.url}/v1/experts").status_code == 401
    experts = httpx.get(f"{live.url}/v1/experts", headers={"Authorization": f"Bearer {live.key}"}).json()
    assert {e["name"] for e in experts["experts"]} == {"ocr", "crop", "draw_boxes"}
    assert httpx.get(f"{live.url}/readyz").json()["status"] == "ready"


def test_the_client_returns_the_sdk_result_and_saves_over_http(live, tmp_path):
    from orchestrator import Client, Result

    with Client(live.url, api_key=live.key) as client:
        result = client.run(DEMO_TASK, images=[live.sign])
        assert isinstance(result, Result) and result.ok and result.replay
        assert "FRESH BREAD DAILY" in result.answer
        saved = result.save_artifacts(tmp_path / "out")
        assert sorted(p.name for p in saved) == ["boxes-1.json", "image-2.png", "image-3.png"]
        assert json.loads((tmp_path / "out" / "boxes-1.json").read_text())[0]["text"] == "FRESH BREAD DAILY"
        assert result.artifacts["boxes-1"].load()[0]["text"] == "FRESH BREAD DAILY"
        report = result.save_report(tmp_path / "run.html").read_text()
        assert report.count("data:image/png;base64,") >= 3
        session = client.session(result.session)
        assert set(session.artifacts) == {"image-1", "boxes-1", "image-2", "image-3"}
        assert session.transcript[0]["role"] == "user"
        kinds = [event.type for event in client.stream(DEMO_TASK, images=[live.sign], session=result.session)]
        assert kinds[0] == "start" and kinds[-1] == "end"


def test_reactor_run_url_starts_no_ray(live, tmp_path):
    from tests.support.videos import encode_video

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_video(12))
    code = (
        "import sys\n"
        "from orchestrator.cli.main import main\n"
        f"code = main(['run', '--url', {live.url!r}, {DEMO_TASK!r}, '--image', {str(live.sign)!r}, "
        f"'--video', {str(clip)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        "assert 'ray' not in sys.modules, 'the CLI imported ray'\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=live.env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ ocr" in done.stdout and "answer: The sign reads" in done.stdout
    assert (tmp_path / "out" / "image-2.png").exists()
    from orchestrator.service.client import Client

    with Client(live.url, api_key=live.key) as client:  # the video went with the task
        newest = client.sessions()[0]["session"]
        video = client.session_artifacts(newest)["video-1"]
        assert video.kind == "video" and client.artifact(video) == clip.read_bytes()


def _service_section() -> str:
    text = README.read_text()
    start = text.index("\n## Service\n")
    end = text.index("\n## ", start + 5)
    return text[start:end]


def test_readme_service_examples_run(live, tmp_path):
    section = _service_section()
    blocks = re.findall(r"```(bash|python)\n(.*?)```", section, flags=re.S)
    assert [lang for lang, _ in blocks].count("bash") >= 1 and [lang for lang, _ in blocks].count(
        "python"
    ) >= 1
    (tmp_path / "sign.png").write_bytes(live.sign.read_bytes())
    for lang, code in blocks:
        code = code.replace("http://127.0.0.1:8000", live.url)
        command = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
        done = subprocess.run(
            command, cwd=tmp_path, env=live.env(), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{lang} block failed:\n{code}\n{done.stdout}\n{done.stderr}"
    assert (tmp_path / "result.json").exists() and (tmp_path / "run.html").exists()


@pytest.mark.browser
def test_web_page_runs_a_task_and_draws_its_boxes(live, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(live.url + "/")
    browser.find_element(By.ID, "api-key").send_keys(live.key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    browser.find_element(By.ID, "task").send_keys(DEMO_TASK)
    browser.find_element(By.ID, "images").send_keys(str(live.sign))
    browser.find_element(By.ID, "submit").click()
    wait = WebDriverWait(browser, 120)
    wait.until(
        lambda d: d.find_element(By.ID, "mmr-root").get_attribute("data-mmr-state") in ("ready", "error")
    )
    assert browser.find_element(By.ID, "mmr-root").get_attribute("data-mmr-state") == "ready", severe_logs(
        browser
    )
    tools = [
        li.get_attribute("data-tool")
        for li in browser.find_elements(By.CSS_SELECTOR, "#live-steps li[data-tool]")
    ]
    assert sorted(tools) == ["crop", "draw_boxes", "ocr"]
    assert browser.find_element(By.ID, "live-status").get_attribute("textContent") == "answered"
    boxes = browser.find_elements(By.CSS_SELECTOR, ".mmr-figure[data-handle='image-1'] rect.mmr-box")
    assert len(boxes) == 3  # the three OCR lines, drawn over the input image
    loaded = browser.execute_script(
        "return [...document.querySelectorAll('.mmr-figure img')].map(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded and all(loaded)
    browser.find_element(By.CSS_SELECTOR, ".mmr-figure[data-handle='image-3'] .mmr-chip").click()
    inspector = browser.find_element(By.CSS_SELECTOR, ".mmr-inspector")
    assert inspector.is_displayed() and "image-1" in inspector.text  # the crop's lineage
    screenshot(browser, "service-web-page")
    browser.find_element(By.CSS_SELECTOR, ".mmr-inspector .mmr-close").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#task-list li button"))
    browser.find_element(By.CSS_SELECTOR, "#task-list li button").click()  # an earlier task of the session
    wait.until(lambda d: d.find_element(By.ID, "mmr-root").get_attribute("data-mmr-state") == "ready")
    assert browser.find_elements(By.CSS_SELECTOR, ".mmr-figure[data-handle='image-1'] rect.mmr-box")
    assert severe_logs(browser) == []


def test_ctrl_c_stops_the_service_cleanly(live):
    port = int(live.url.rsplit(":", 1)[1])
    live.process.send_signal(signal.SIGINT)
    assert live.process.wait(timeout=120) == 0
    assert live.log.read_text().rstrip().endswith("stopped")
    assert _listening(port) == []
