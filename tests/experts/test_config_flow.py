"""Config flows one way: a model id or a default is written once, where it belongs.

- A default model id lives in its expert's Settings only: no YAML file, doc, test or other
  module of the repository repeats it. README's expert table is the one exception, and it is
  checked against the Settings here (options and default ids), so it cannot drift.
- The shipped YAML configs state only what differs from the deployment defaults
  (``experts/deployment_defaults.py``) and from each expert's Settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config import BatchingConfig, ExpertDeployment
from tests.experts.built_ins import HUB_ID, built_in_experts, default_model_ids

REPO = Path(__file__).resolve().parents[2]
SCANNED = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".json", ".sh"}
SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"}
SHIPPED_CONFIGS = [REPO / "orchestrator" / "default_config.yaml", REPO / "configs" / "cluster-experts.yaml"]

EXPERTS = built_in_experts()
IDS = {name: default_model_ids(cls) for name, cls in EXPERTS.items()}
OWNERS = {
    model_id: {f"experts/{name}.py" for name, ids in IDS.items() if model_id in ids.values()}
    for model_id in {model_id for ids in IDS.values() for model_id in ids.values()}
}


def _skipped(part: str) -> bool:
    return part in SKIPPED_DIRS or part.startswith(".") or part.endswith(".egg-info")


def repository_files() -> list[Path]:
    """The repository's text files (sources, docs, configs, tests), without caches and environments."""
    return sorted(
        path
        for path in REPO.rglob("*")
        if path.suffix in SCANNED
        and path.is_file()
        and not any(_skipped(part) for part in path.relative_to(REPO).parts)
    )


def readme_rows() -> dict[str, str]:
    """README's expert table: expert name → its row."""
    rows = {}
    for line in (REPO / "README.md").read_text().splitlines():
        match = re.match(r"\| `([a-z_]+)` \|", line)
        if match and match.group(1) in EXPERTS:
            rows[match.group(1)] = line
    return rows


def test_a_default_model_id_is_written_only_in_its_experts_settings() -> None:
    assert any(IDS.values()), "no default model ids found: the scan would check nothing"
    readme_table = set(readme_rows().values())
    found = []
    for path in repository_files():
        relative = path.relative_to(REPO).as_posix()
        lines = path.read_text(errors="replace").splitlines()
        if relative == "README.md":
            lines = [line for line in lines if line not in readme_table]  # checked below
        for name, ids in IDS.items():
            if relative == f"experts/{name}.py":
                continue  # the one place: its Settings
            for model_id in ids.values():
                if relative in OWNERS[model_id]:
                    continue  # an id two experts share (segment_all/segment, video_qa/mllm) lives in one
                found += [
                    f"{relative}:{number}: {model_id}"
                    for number, line in enumerate(lines, 1)
                    if model_id in line
                ]
    assert not found, (
        "default model ids written outside their expert's Settings (take them from "
        "Expert.Settings().model, or leave options.model out of the YAML):\n" + "\n".join(found)
    )


def _expand(text: str) -> list[str]:
    """``a-{b,c}`` → ``[a-b, a-c]`` (the README writes families of ids that way)."""
    match = re.search(r"\{([^{}]*)\}", text)
    if not match:
        return [text]
    return [
        expanded
        for choice in match.group(1).split(",")
        for expanded in _expand(text[: match.start()] + choice.strip() + text[match.end() :])
    ]


@pytest.mark.parametrize("name", sorted(EXPERTS))
def test_readme_table_matches_the_settings(name: str) -> None:
    rows = readme_rows()
    assert name in rows, f"README's expert table has no row for '{name}'"
    cells = [cell.strip() for cell in rows[name].strip("|").split("|")]
    options, models = cells[2], cells[3]
    listed = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", options)))
    assert listed == set(EXPERTS[name].Settings.model_fields), f"README options of '{name}'"
    written = {
        model_id
        for token in re.findall(r"`([^`]+)`", models)
        for model_id in _expand(token)
        if HUB_ID.match(model_id)
    }
    assert written == set(IDS[name].values()), f"README default models of '{name}'"


def _raw_entries(path: Path) -> dict[str, dict[str, Any]]:
    return yaml.safe_load(path.read_text()).get("experts", {})


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_state_only_what_differs_from_the_defaults(path: Path) -> None:
    restated = []
    for name, entry in _raw_entries(path).items():
        settings = EXPERTS[name].Settings()
        for key, value in (entry.get("options") or {}).items():
            if getattr(settings, key) == value:
                restated.append(f"{name}.options.{key}: {value!r} is the Settings default")
        for key, value in entry.items():
            field = ExpertDeployment.model_fields.get(key)
            if key in ("options", "enabled") or field is None:
                continue
            if key == "batching":
                batching = BatchingConfig()
                restated += [
                    f"{name}.batching.{k}: {v!r} is the default"
                    for k, v in (value or {}).items()
                    if getattr(batching, k) == v
                ]
            elif value == field.get_default(call_default_factory=True):
                restated.append(f"{name}.{key}: {value!r} is the deployment default")
    assert not restated, f"{path.name} restates defaults (they live in one place):\n" + "\n".join(restated)
