"""cluster.yaml passes Ray's own validation; the cluster experts config deploys; serve/experts commands."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ray import serve
from ray.autoscaler._private.util import prepare_config, validate_config

from experts.registry import load_expert_class
from llm.scripted import ScriptedChatModel
from orchestrator import Orchestrator, load_config
from orchestrator.cli.main import main

REPO = Path(__file__).resolve().parents[1]


def test_cluster_yaml_is_valid_for_the_ray_launcher():
    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    validate_config(prepare_config(copy.deepcopy(config)))
    types = config["available_node_types"]
    assert types["gpu_worker"]["resources"]["GPU"] >= 1 and "gpu_node" in types["gpu_worker"]["resources"]
    assert "GPU" not in types[config["head_node_type"]]["resources"]
    assert any("mm-reactor" in command for command in config["setup_commands"])
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_worker"]["gpus"] = 1
    with pytest.raises(Exception, match="gpus"):
        validate_config(prepare_config(broken))


def test_cluster_experts_config_places_every_expert_on_a_node_type():
    config = load_config(REPO / "configs" / "cluster-experts.yaml")
    node_types = yaml.safe_load((REPO / "cluster.yaml").read_text())["available_node_types"]
    offered = {key for node in node_types.values() for key in node["resources"]}
    for name, entry in config.experts.items():
        expert_cls = load_expert_class(name, entry.expert_class)
        expert_cls.Settings.model_validate(entry.options)  # the options are valid for the expert
        placement = set(entry.ray_actor_options.get("resources", {}))
        assert placement and placement <= offered, name
        if entry.ray_actor_options.get("num_gpus"):
            assert "gpu_node" in placement, name


@pytest.mark.ray
def test_reactor_serve_then_attach_then_list(ray_session, tmp_path, capsys):
    config_file = tmp_path / "serve.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "ray": {"app_prefix": "srv-"},
                "experts": {"noop": {"num_replicas": 2, "max_ongoing_requests": 9}},
            }
        )
    )
    assert main(["serve", "--experts-only", "--config", str(config_file), "--address", "auto"]) == 0
    assert "deployed 1 experts" in capsys.readouterr().out
    assert "srv-noop" in serve.status().applications
    script = ScriptedChatModel(
        ['Thought: x\nAction: noop\nAction Input: {"payload": "hi"}', "Final Answer: ok"]
    )
    with Orchestrator.local(config_file, chat_model=script, deploy=False) as orch:
        result = orch.run("echo")
        assert result.ok and '"echo": "hi"' in result.steps[0].observation
    assert "srv-noop" in serve.status().applications  # attached experts stay deployed
    assert main(["experts", "--config", str(config_file), "--address", "auto"]) == 0
    listing = capsys.readouterr().out
    assert "noop" in listing and "2/2" in listing
    serve.delete("srv-noop")


@pytest.mark.ray
def test_attach_names_missing_experts(ray_session, tmp_path):
    from orchestrator import DeploymentError

    config = {"data_dir": str(tmp_path), "ray": {"app_prefix": "absent-"}, "experts": {"noop": {}}}
    with pytest.raises(DeploymentError, match="not deployed on the cluster: noop"):
        Orchestrator.local(config, deploy=False)


def test_serve_without_a_cluster_says_how_to_get_one(monkeypatch, capsys):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["serve"]) == 2
    assert "ray start --head" in capsys.readouterr().err
