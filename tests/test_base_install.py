"""The base install: orchestrator, Ray Serve, LangGraph and OCR, without torch and the other extras.

The first test hides the heavy packages from every process (the driver and Ray's workers) with a
``sitecustomize`` on ``PYTHONPATH``; the second builds a real fresh virtualenv with ``pip install .``
and needs the package registry and minutes, so it runs only with ``MM_REACTOR_FRESH_VENV=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / "tests" / "support" / "base_install_check.py"
HIDE_HEAVY_PACKAGES = """
import importlib.abc, sys

HIDDEN = {"torch", "torchvision", "transformers", "diffusers", "tokenizers", "safetensors", "accelerate"}


class _Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Hidden())
"""


def _check_script(directory: Path) -> str:
    """The check, copied out of tests/ (a script's directory comes first on sys.path, and tests/ has an
    ``experts`` package of its own)."""
    script = directory / "base_install_check.py"
    script.write_text(CHECK.read_text())
    return str(script)


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: int) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def test_the_base_install_runs_ocr_and_refuses_detect_without_torch(tmp_path: Path) -> None:
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_HEAVY_PACKAGES)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hide), str(REPO)]), RAY_AUTH_MODE="disabled")
    output = _run([sys.executable, _check_script(hide), str(tmp_path)], cwd=tmp_path, env=env, timeout=600)
    assert "BASE INSTALL OK" in output
    command = [sys.executable, "-m", "orchestrator.cli.main", "--help"]
    help_text = _run(command, cwd=hide, env=env, timeout=120)
    assert "demo" in help_text and "serve" in help_text


@pytest.mark.skipif(
    os.environ.get("MM_REACTOR_FRESH_VENV") != "1",
    reason="builds a fresh virtualenv from the package registry (minutes): set MM_REACTOR_FRESH_VENV=1",
)
def test_pip_install_without_extras_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, reactor = env_dir / "bin" / "python", env_dir / "bin" / "reactor"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["RAY_AUTH_MODE"] = "disabled"
    _run([str(python), "-m", "pip", "install", "--quiet", str(REPO)], cwd=tmp_path, env=env, timeout=1800)
    assert "usage: reactor" in _run([str(reactor), "--help"], cwd=tmp_path, env=env, timeout=120)
    output = _run([str(python), _check_script(tmp_path), str(tmp_path)], cwd=tmp_path, env=env, timeout=600)
    assert "BASE INSTALL OK" in output
