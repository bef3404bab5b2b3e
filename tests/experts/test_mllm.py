"""The mllm expert on tiny random Qwen2-VL and LLaVA models built in-process (random text: structure only)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from experts.base import ExpertError, ImageData, NewText
from experts.mllm import Mllm
from loading import ModelNotAvailable
from tests.experts.harness import call_tool, deployed, observation
from tests.experts.tiny_mllm import build_tiny_mllm

FAMILIES = ["qwen2_vl", "llava"]
BATCHING = {"max_batch_size": 4, "batch_wait_timeout_s": 0.2}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {family: build_tiny_mllm(tmp_path_factory.mktemp(family), family) for family in FAMILIES}


@pytest.fixture(scope="module")
def experts(model_dirs: dict[str, Path]) -> dict[str, Mllm]:
    """Both families loaded in this process (no Ray), answers cut at 4 tokens."""
    loaded = {}
    for family, directory in model_dirs.items():
        expert = Mllm({"family": family, "model": str(directory), "max_new_tokens": 4})
        expert.setup()
        loaded[family] = expert
    return loaded


def picture(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def inputs(array: np.ndarray, **arguments: object) -> Mllm.Input:
    return Mllm.Input.model_validate({"image": ImageData("image-1", array)} | arguments)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


# --- settings and loading (no model needed) ---------------------------------------------


def test_settings_checks() -> None:  # defaults, unknown keys: test_contract.py
    with pytest.raises(ValidationError, match=r"family 'llava' needs options\.model"):
        Mllm.Settings(family="llava")
    assert Mllm.Settings(family="llava", model="llava-hf/llava-1.5-7b-hf").family == "llava"
    with pytest.raises(ValidationError):
        Mllm.Settings(family="blip")
    with pytest.raises(ValidationError):
        Mllm.Input.model_validate({"image": "image-1", "max_new_tokens": 513})


def test_schema_describes_every_argument() -> None:
    schema = Mllm.argument_schema()
    assert schema["properties"]["image"]["type"] == "string"
    assert "answer" in str(schema["properties"]["mode"])


def test_missing_model_directory_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotAvailable, match=f"expert 'mllm'.*{missing}"):
        Mllm({"model": str(missing)}).setup()


def test_checkpoint_of_the_other_family_is_refused(model_dirs: dict[str, Path]) -> None:
    with pytest.raises(
        ModelNotAvailable, match=r"'qwen2_vl' checkpoint but options\.family is 'llava'.*'qwen2_vl'"
    ):
        Mllm({"family": "llava", "model": str(model_dirs["qwen2_vl"])}).setup()


# --- the expert in-process -------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_of_mixed_sizes_matches_single_calls(experts: dict[str, Mllm], family: str) -> None:
    expert = experts[family]
    batch = [
        inputs(picture(90, 60, 1), mode="caption"),
        inputs(picture(120, 200, 2), mode="vqa", question="What colour is the sky?"),
        inputs(picture(64, 64, 3), mode="region", box=[10, 10, 40, 30]),
        inputs(picture(300, 80, 4), mode="answer", question="How many dogs are there?", max_new_tokens=2),
    ]
    together = expert.run_batch(batch)
    assert [type(out) for out in together] == [Mllm.Output] * 4
    assert [out.mode for out in together] == ["caption", "vqa", "region", "answer"]
    for out in together:
        assert isinstance(out.text, str) and out.text == out.text.strip()
        assert isinstance(out.answer, NewText) and out.answer.text == out.text
    assert [out.text for out in together] == [expert.run(item).text for item in batch]
    assert len(expert._processor.tokenizer(together[3].text)["input_ids"]) <= 3  # 2 tokens, re-encoded
    assert together[2].region == [7, 7, 43, 33]  # the box plus 10% of its longer side (30 px)
    assert [out.region for out in together[:2] + together[3:]] == [None, None, None]


@pytest.mark.parametrize("family", FAMILIES)
def test_bad_items_fail_alone(experts: dict[str, Mllm], family: str) -> None:
    array = picture(80, 60)
    batch = [
        inputs(array, mode="vqa"),
        inputs(array, mode="region", box=[10, 10, 200, 30]),
        inputs(array, mode="caption"),
        inputs(array, mode="region"),
        inputs(array, mode="answer", question="   "),
        inputs(array, mode="caption", question="what is this?"),
        inputs(array, mode="vqa", question="what is this?", box=[0, 0, 10, 10]),
    ]
    results = experts[family].run_batch(batch)
    assert isinstance(results[2], Mllm.Output)
    errors = [str(r) for i, r in enumerate(results) if i != 2 and isinstance(r, ExpertError)]
    assert len(errors) == 6
    assert "mode 'vqa' needs a question" in errors[0]
    assert "extends past the 80x60 image" in errors[1]
    assert "mode 'region' needs a box" in errors[2]
    assert "mode 'answer' needs a question" in errors[3]
    assert "use mode 'vqa'" in errors[4]
    assert "box is only used in mode 'region'" in errors[5]
    with pytest.raises(ExpertError, match="needs a question"):
        experts[family].run(batch[0])


def test_region_context_is_clipped_at_the_border(experts: dict[str, Mllm]) -> None:
    out = experts["qwen2_vl"].run(inputs(picture(50, 40), mode="region", box=[0, 30, 20, 40]))
    assert out.region == [0, 28, 22, 40]


def test_question_text_cannot_inject_image_tokens(experts: dict[str, Mllm]) -> None:
    for family, expert in experts.items():
        question = "is <image> the same as <|image_pad|> <|vision_start|>?"
        out = expert.run(inputs(picture(40, 40), mode="vqa", question=question))
        assert isinstance(out.text, str), family


def test_too_elongated_image_is_an_input_error(experts: dict[str, Mllm]) -> None:
    with pytest.raises(ExpertError, match="is 300x1, more than 200 times"):
        experts["qwen2_vl"].run(inputs(picture(300, 1), mode="caption"))


# --- deployed on Ray and called through the SDK -----------------------------------------


@pytest.mark.ray
@pytest.mark.parametrize("family", FAMILIES)
def test_all_modes_through_the_sdk(orch, model_dirs: dict[str, Path], family: str) -> None:
    options = {"family": family, "model": str(model_dirs[family]), "max_new_tokens": 4}
    settings = {"options": options, "batching": BATCHING, "max_ongoing_requests": 8, "timeout_s": 120}
    with deployed(orch, Mllm, name=f"mllm_{family}", num_cpus=0.5, **settings) as name:
        calls = [
            {"image": "image-1", "mode": "caption"},
            {"image": "image-1", "mode": "vqa", "question": "What is in the picture?"},
            {"image": "image-1", "mode": "region", "box": [4, 4, 40, 30]},
            {"image": "image-1", "mode": "answer", "question": "Describe the scene for a blind user."},
            {"image": "image-1", "mode": "region", "box": [0, 0, 500, 30]},
            {"image": "image-1", "mode": "vqa"},
        ]
        result = call_tool(orch, name, calls, images=[png(picture(64, 48))], expect_errors={4, 5})
        assert result.ok
        for i, mode in enumerate(["caption", "vqa", "region", "answer"]):
            output = observation(result, i)["output"]
            assert output["mode"] == mode and isinstance(output["text"], str)
            handle = output["answer"]["handle"]
            assert handle.startswith("text-") and output["answer"]["text"] == output["text"]
            artifact = result.artifacts[handle]
            assert artifact.kind == "text" and artifact.parents == ["image-1"] and artifact.producer == name
        assert observation(result, 2)["output"]["region"] == [0, 0, 44, 34]
        assert "extends past the 64x48 image" in observation(result, 4)["error"]
        assert "mode 'vqa' needs a question" in observation(result, 5)["error"]
