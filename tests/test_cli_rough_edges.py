"""What a new user meets first: `reactor --version`, the demo's exit code and config check, saved artifacts,
Ray's chatter kept out of a clean run, and each expert's start-up shown."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.cli import main as cli_main
from orchestrator.cli.demo import DEMO_EXPERTS, check_demo_result
from orchestrator.cli.main import main
from orchestrator.config import load_config
from orchestrator.result import ArtifactInfo, Result, Step
from orchestrator.storage.artifacts import ArtifactStore

REPO = Path(__file__).resolve().parents[1]
RAY_NOISE = [
    r"\(raylet\)",
    r"graceful_shutdown failed",
    r"killed by `?ray\.kill",
    r"Connecting to existing Serve app",
    r"Started Serve in namespace",
    r"SharedRouterLongPollClient",
    r"Started <",
    r"PYTHON worker processes have been started",
]


def _step(index: int, tool: str | None, **fields: Any) -> Step:
    base = {
        "index": index,
        "turn": index,
        "thought": "",
        "tool": tool,
        "arguments": {},
        "observation": "",
        "started_at": 0.0,
        "seconds": 0.01,
        "replica": None,
        "error": None,
        "new_handles": [],
    }
    return Step.model_validate(base | fields)


def _result(store: ArtifactStore, values: dict[str, tuple[str, Any]], steps: list[Step]) -> Result:
    artifacts = {}
    for handle, (kind, value) in values.items():
        artifact_id, shape, uri = store.put(kind, value)
        record = {
            "handle": handle,
            "id": artifact_id,
            "kind": kind,
            "shape": shape,
            "producer_step": 1,
            "producer": "ocr",
            "parents": [],
            "uri": uri,
        }
        artifacts[handle] = ArtifactInfo.from_record(record, store)  # type: ignore[arg-type]
    return Result(
        session="s",
        run_id="r",
        task="t",
        status="answered",
        answer="done",
        failure=None,
        artifacts=artifacts,
        steps=steps,
        controller="scripted replay",
        replay=True,
        seconds=0.1,
    )


def test_version_prints_the_package_version(capsys, monkeypatch):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"reactor {metadata.version('mm-reactor')}"

    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(cli_main.metadata, "version", not_installed)
    assert "not installed" in cli_main.version()


def test_save_artifacts_writes_boxes_as_json_and_texts_as_txt(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    lines = [{"text": "FRESH BREAD", "box": [1, 2, 30, 12], "score": 0.9}]
    values = {
        "boxes-1": ("boxes", lines),
        "text-1": ("text", "FRESH BREAD\nDAILY"),
        "image-2": ("image", np.zeros((4, 5, 3), np.uint8)),
        "mask-1": ("mask", np.ones((4, 5), bool)),
    }
    result = _result(store, values, [_step(1, "ocr", new_handles=list(values))])
    saved = result.save_artifacts(tmp_path / "out" / "nested")
    assert sorted(p.name for p in saved) == ["boxes-1.json", "image-2.png", "mask-1.png", "text-1.txt"]
    out = tmp_path / "out" / "nested"
    assert json.loads((out / "boxes-1.json").read_text()) == lines
    assert (out / "text-1.txt").read_text(encoding="utf-8") == "FRESH BREAD\nDAILY"
    assert (out / "image-2.png").read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in result.save_artifacts(tmp_path / "only", kinds=("boxes",))] == ["boxes-1.json"]


def test_save_artifacts_creates_the_folder_when_there_is_nothing_to_write(tmp_path):
    result = _result(ArtifactStore(tmp_path / "store"), {}, [_step(1, None)])
    assert result.save_artifacts(tmp_path / "empty") == []
    assert (tmp_path / "empty").is_dir()


def test_the_demo_refuses_a_config_without_its_experts_before_ray(tmp_path, capsys, monkeypatch):
    import orchestrator.cli.commands as commands

    monkeypatch.setattr(commands, "_local", lambda args: pytest.fail("the SDK was loaded"))
    config = tmp_path / "mine.yaml"
    config.write_text("experts:\n  ocr: {num_replicas: 2}\n")  # the README mistake: only the changes
    assert main(["demo", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "does not enable draw_boxes, crop" in err and "replaces the packaged list" in err


def test_the_demo_exits_non_zero_when_its_run_fails(tmp_path, capsys, monkeypatch):
    import orchestrator.cli.commands as commands

    failed = _result(
        ArtifactStore(tmp_path / "store"),
        {"boxes-1": ("boxes", [])},
        [
            _step(1, "ocr", new_handles=["boxes-1"]),
            _step(2, "draw_boxes", error="there is no expert 'draw_boxes'", error_type="arguments"),
            _step(3, None),
        ],
    )

    class FakeOrchestrator:
        experts = list(DEMO_EXPERTS)

        @classmethod
        def local(cls, config, **kwargs):
            kwargs["on_ready"]("ocr", 1.25)
            return cls()

        def run(self, task, images):
            return failed

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(commands, "_local", lambda args: FakeOrchestrator)
    assert main(["demo", "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "✓ ocr ready (1.2 s)" in out or "✓ ocr ready (1.3 s)" in out
    assert "the demo FAILED" in out and "step 2 (draw_boxes) failed: there is no expert 'draw_boxes'" in out
    assert "no crop step made its artifact" in out and "demo failed in" in out


def test_the_demo_check_passes_a_complete_run(tmp_path):
    steps = [_step(i, tool, new_handles=[f"x-{i}"]) for i, tool in enumerate(DEMO_EXPERTS, 1)]
    assert check_demo_result(_result(ArtifactStore(tmp_path), {}, steps), replay=True) == []


def test_quiet_ray_keeps_raylet_notes_and_serve_info_out(capsys, monkeypatch):
    from ray._private import worker

    from orchestrator.cli.quiet import quiet_ray

    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # restored afterwards
    serve_logger = logging.getLogger("ray.serve")
    monkeypatch.setattr(serve_logger, "level", serve_logger.level)
    quiet_ray(False)
    note = "Task ServeController.graceful_shutdown failed. Error: killed by `ray.kill`."
    worker.print_to_stdstream({"lines": [note], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    worker.print_to_stdstream(
        {"lines": ["a replica's print"], "pid": 42, "is_err": False}, ignore_prefix=True
    )
    out = capsys.readouterr().out
    assert "graceful_shutdown" not in out and "a replica's print" in out
    assert serve_logger.getEffectiveLevel() == logging.WARNING
    quiet_ray(True)
    assert serve_logger.getEffectiveLevel() == logging.INFO


@pytest.mark.ray
def test_a_clean_demo_prints_no_ray_noise_and_shows_each_expert_ready(tmp_path):
    config = {
        "data_dir": str(tmp_path / "data"),
        "checkpointer": "memory",
        "ray": {"num_cpus": 4, "app_prefix": "quiet-demo-"},
        "experts": {name: load_config().experts[name].model_dump(by_alias=True) for name in DEMO_EXPERTS},
    }
    path = tmp_path / "demo.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MM_REACTOR_LLM", "RAY_ADDRESS"))}
    env |= {"PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled", "MM_REACTOR_DATA": str(tmp_path / "data")}
    command = [sys.executable, "-m", "orchestrator.cli.main", "demo", "--config", str(path)]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "answer: The sign reads" in done.stdout
    for name in DEMO_EXPERTS:
        assert re.search(rf"✓ {name} ready \(\d+\.\d s\)", done.stdout), output
    noise = [p for p in RAY_NOISE if re.search(p, output)]
    assert not noise, f"Ray noise in a clean demo ({noise}):\n{output}"
    assert (tmp_path / "out" / "boxes-1.json").exists() and (tmp_path / "out" / "image-3.png").exists()


def _readme_config() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text.split("**Your file replaces the packaged one; it is not merged with it.**", 1)[1]
    return after.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_readme_config_example_loads_passes_the_preflight_and_runs_the_demo(tmp_path, monkeypatch):
    from orchestrator import preflight
    from orchestrator.cli.demo import check_demo_config
    from orchestrator.serving.runtime import ExpertRuntime

    path = tmp_path / "my.yaml"
    path.write_text(_readme_config())
    config = load_config(path)
    assert set(config.enabled_experts()) == set(DEMO_EXPERTS)
    assert config.experts["ocr"].options == {"limit_side_len": 960}
    check_demo_config(config, str(path))
    monkeypatch.setattr(preflight, "_ray_running", lambda: False)
    preflight.check(config, ExpertRuntime(config.ray), deploy=True, controller_given=True)


def test_a_config_replaces_the_packaged_one_and_what_it_leaves_out_takes_the_defaults():
    packaged = load_config()
    only_experts = load_config(
        {"experts": {n: e.model_dump(by_alias=True) for n, e in packaged.experts.items()}}
    )
    assert only_experts == packaged  # the packaged file states nothing but its experts beyond the defaults
    assert set(load_config({"experts": {"crop": {}}}).experts) == {"crop"}  # replaced, not merged
    assert load_config({"max_steps": 3}).experts == {}
