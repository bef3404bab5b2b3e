"""A headless Chromium for the report and web-page tests (pytest plugin: the ``browser`` fixture).

It drives Debian's ``chromium`` through ``chromedriver`` (``/usr/bin``) with Selenium, on a fresh
profile and with the browser's own network features off. Where they are missing it installs them
through ``.ci/install-chromium`` when we may (root and ``CI`` or ``MM_REACTOR_INSTALL_CHROMIUM=1``),
else skips with how to install them. Screenshots go to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMEDRIVER", "CHROMIUM", "SCREENSHOTS", "browser", "open_report", "screenshot", "severe_logs"]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = REPO / "tests" / "artifacts"
ARGUMENTS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
INSTALL_HINT = (
    "install Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver, or run "
    ".ci/install-chromium as root), or set MM_REACTOR_INSTALL_CHROMIUM=1 when running the tests as root"
)


def _present() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


def _may_install() -> bool:
    return os.geteuid() == 0 and bool(os.environ.get("CI") or os.environ.get("MM_REACTOR_INSTALL_CHROMIUM"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium WebDriver shared by the test session (each test opens its own page)."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed: pip install 'mm-reactor[test]'"
    )
    from selenium.webdriver.chrome.service import Service

    if not _present() and _may_install():
        subprocess.run(["bash", str(REPO / ".ci" / "install-chromium")], check=True, timeout=900)
    if not _present():
        pytest.skip(f"headless browser tests need {CHROMIUM} and {CHROMEDRIVER}: {INSTALL_HINT}")
    profile = tempfile.mkdtemp(prefix="mmr-chromium-", dir="/tmp")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (*ARGUMENTS, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_report(driver: Any, path: Path, timeout: float = 20.0) -> None:
    """Open a report file and wait until the renderer says it is ready (fail if it says error)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(path.resolve().as_uri())
    state = WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "const s = document.getElementById('mmr-root').dataset.mmrState; return s !== 'loading' && s;"
        )
    )
    assert state == "ready", f"the renderer ended in state {state!r}; browser log: {severe_logs(driver)}"


def severe_logs(driver: Any) -> list[str]:
    """The browser console's errors since the last call (script errors, blocked loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: Any, name: str) -> Path:
    """A full-page PNG screenshot under tests/artifacts/; its path is printed for the test output."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 40, 12000))
    target = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(target))
    driver.set_window_size(1280, 900)
    print(f"screenshot: {target}")
    return target
