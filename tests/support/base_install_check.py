"""What the base install (no extras) must do, run as a script in the environment under test.

    python base_install_check.py WORKDIR

Checks that torch and friends are absent, that every module of the orchestrator, the LLM backends
and the experts imports, that an OCR-only task runs end to end on an embedded Ray, and that a config
enabling ``detect`` fails before Ray starts with the line that installs the missing extra. Prints
``BASE INSTALL OK`` at the end; any failure raises.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "diffusers", "tokenizers", "safetensors")
# Modules only an expert's setup() imports, which need an extra at import time: the transformers
# model-family table of the mllm expert, its video reader (the video experts) and the torch networks of
# the hed and mlsd annotators.
NEEDS_AN_EXTRA = {"experts._mllm_families", "experts._mllm_video", "experts._hed_net", "experts._mlsd_net"}


def main(workdir: Path) -> None:
    for name in HEAVY:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:
            found = False
        assert not found, f"{name} is importable: this is not a base install"

    for package in ("orchestrator", "llm", "experts", "extensions", "prompts"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if info.name not in NEEDS_AN_EXTRA:
                importlib.import_module(info.name)
    print("every module imports")

    import ray

    from llm.scripted import ScriptedChatModel
    from orchestrator import ConfigError, Orchestrator
    from orchestrator.cli.demo import make_demo_image

    config = {
        "data_dir": str(workdir / "data"),
        "checkpointer": "memory",
        "ray": {"num_cpus": 2},
        "experts": {"detect": {}, "ocr": {"options": {"limit_type": "max", "limit_side_len": 960}}},
    }
    try:
        Orchestrator.local(config)
    except ConfigError as err:
        assert 'pip install "mm-reactor[vision]"' in str(err) and "detect" in str(err), err
        print(f"detect refused: {err}")
    else:
        raise AssertionError("deploying detect without the [vision] extra did not fail")
    assert not ray.is_initialized(), "Ray started before the missing extra was reported"

    del config["experts"]["detect"]  # type: ignore[attr-defined]
    script = ScriptedChatModel(
        ['Thought: read it\nAction: ocr\nAction Input: {"image": "image-1"}', "Final Answer: read"]
    )
    with Orchestrator.local(config, chat_model=script) as orch:
        result = orch.run("Read the sign.", images=[make_demo_image()])
    assert result.ok and result.steps[0].error is None, result.steps
    assert "FRESH BREAD DAILY" in result.steps[0].observation, result.steps[0].observation
    for name in HEAVY:
        assert name not in sys.modules, f"the OCR task imported {name}"
    print("OCR-only task answered")
    print("BASE INSTALL OK")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
