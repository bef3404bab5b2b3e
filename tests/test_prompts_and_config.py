"""Every prompt template renders; the expert catalogue is generated; the config is validated."""

from __future__ import annotations

import pytest

from experts.registry import ExpertNotFound, load_expert_class
from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue
from prompts import TEMPLATES, render

VALUES = {
    "system": {"catalogue": "- x: y", "routing": "Choosing a route: z"},
    "routing_mllm": {"expert": "mllm"},
    "task": {"task": "read it", "artifacts": "- image-1: image 4x4, input image", "count": 3},
    "correction": {"problem": "no Action", "retries_left": 1},
    "failure": {"reason": "ran out of steps"},
}


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders(name):
    text = render(name, **VALUES[name])
    assert "$" not in text and text.strip()
    for value in VALUES[name].values():
        assert str(value) in text


def test_missing_placeholder_is_named():
    with pytest.raises(KeyError, match="catalogue"):
        render("system")
    with pytest.raises(KeyError, match="no prompt template"):
        render("nope")


def test_catalogue_is_generated_from_expert_classes():
    catalogue = ExpertCatalogue()
    for name in ("ocr", "crop", "draw_boxes"):
        catalogue.add(DeployedExpert(name, load_expert_class(name), handle=None, app_name=name, timeout_s=1))  # type: ignore[arg-type]
    text = render("system", catalogue=catalogue.render(), routing="")
    assert "- ocr: " in text and "- crop: " in text and "- draw_boxes: " in text
    crop_line = text.split("- crop: ")[1].split("\n- ")[0]
    assert '"image": {"type": "string"' in crop_line and '"box"' in crop_line
    assert "Action Input:" in text and "Final Answer:" in text


def test_default_config_lists_every_expert_and_enables_the_weight_free_ones():
    cfg = load_config()
    assert set(cfg.enabled_experts()) == {
        *("ocr", "crop", "resize", "draw_boxes", "overlay_mask", "canny", "normal", "scribble"),
        *("cutout", "replace_background", "color_pop", "blur_region", "region", "select", "count"),
    }
    neural = {"detect", "segment", "segment_all", "clip", "mllm", "text", "controlnet", "gligen", "inpaint"}
    neural |= {"depth", "pose", "hed", "mlsd"}  # the condition-map annotators
    assert neural <= set(cfg.experts) and not neural & set(cfg.enabled_experts())
    for name, entry in cfg.experts.items():
        assert entry.max_ongoing_requests >= 1 and entry.timeout_s > 0
        load_expert_class(name).Settings.model_validate(entry.options)  # options valid for the expert


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("experts: {ocr: {num_replicas: 0}}")
    with pytest.raises(ConfigError, match="num_replicas"):
        load_config(bad)
    bad.write_text("max_stepz: 3")
    with pytest.raises(ConfigError, match="max_stepz"):
        load_config(bad)
    bad.write_text(": : :")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_autoscaling_replaces_replicas():
    cfg = load_config({"experts": {"ocr": {"autoscaling_config": {"min_replicas": 1, "max_replicas": 3}}}})
    assert cfg.experts["ocr"].num_replicas is None


def test_env_selects_a_live_controller(monkeypatch):
    monkeypatch.setenv("MM_REACTOR_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MM_REACTOR_LLM_MODEL", "qwen")
    cfg = load_config()
    assert cfg.controller.backend == "openai" and cfg.controller.model == "qwen"


def test_registry_errors():
    with pytest.raises(ExpertNotFound, match="no built-in expert named 'sam3'"):
        load_expert_class("sam3")
    with pytest.raises(ExpertNotFound, match="must look like"):
        load_expert_class("x", "nocolon")
    with pytest.raises(ExpertNotFound, match="declares name 'invert'"):
        load_expert_class("other", "tests.support.experts:Invert")
    with pytest.raises(ExpertNotFound, match="cannot import module"):
        load_expert_class("x", "no_such_pkg.mod:X")
