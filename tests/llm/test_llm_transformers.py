"""TransformersChatModel on a tiny random-weight Llama built in-process (offline, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm import ChatMessage, ChatModel, ControllerConfig, LLMError, TransformersChatModel, build_chat_model
from llm.transformers_local import cut_at_stop
from loading import pick_device
from tests.llm.tiny_causal_lm import CHAT_TEMPLATE, build_tiny_causal_lm

MSGS: list[ChatMessage] = [
    {"role": "system", "content": "You plan tool calls."},
    {"role": "user", "content": "How many dogs are in image_0?"},
]


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny_lm"))


def make_model(directory: Path | str, **overrides: object) -> TransformersChatModel:
    cfg = ControllerConfig.model_validate(
        {
            "backend": "transformers",
            "model": str(directory),
            "device": "cpu",
            "max_new_tokens": 8,
            **overrides,
        }
    )
    return TransformersChatModel(cfg)


def test_builder_writes_a_loadable_chat_model(tiny_lm_dir: Path) -> None:
    from transformers import AutoTokenizer

    assert (tiny_lm_dir / "config.json").is_file()
    assert (tiny_lm_dir / "model.safetensors").is_file()
    tok = AutoTokenizer.from_pretrained(tiny_lm_dir, local_files_only=True)
    assert tok.chat_template == CHAT_TEMPLATE
    text = tok.apply_chat_template(
        [{"role": m["role"], "content": m["content"]} for m in MSGS],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert isinstance(text, str)
    assert text.startswith("<s><|system|>\nYou plan tool calls.</s>\n")
    assert text.endswith("<|assistant|>\n")


def test_complete_returns_text_within_max_new_tokens(tiny_lm_dir: Path) -> None:
    model = make_model(tiny_lm_dir, max_new_tokens=5)
    assert isinstance(model, ChatModel)
    assert model.is_replay is False
    assert model.label == f"transformers {tiny_lm_dir} on cpu"
    assert not model.loaded

    reply = model.complete(MSGS)

    assert model.loaded
    assert isinstance(reply, str)
    # At most 5 tokens were decoded (re-encoding random bytes is not a reliable count; see the next test).
    tok = model._tokenizer
    longest = max(len(tok.decode([i])) for i in range(len(tok)))
    assert len(reply) <= 5 * longest
    # Greedy decoding is deterministic.
    assert model.complete(MSGS) == reply


def test_max_new_tokens_bounds_generation(tiny_lm_dir: Path) -> None:
    import torch

    model = make_model(tiny_lm_dir, max_new_tokens=3)
    model.load()
    calls: list[torch.Tensor] = []
    generate = model._model.generate

    def spy(*args: object, **kwargs: object) -> torch.Tensor:
        out = generate(*args, **kwargs)
        calls.append(out.shape[1] - kwargs["input_ids"].shape[1])  # type: ignore[attr-defined]
        return out

    model._model.generate = spy
    model.complete(MSGS)
    assert calls and 1 <= calls[0] <= 3


def test_stop_strings_cut_the_reply(tiny_lm_dir: Path) -> None:
    model = make_model(tiny_lm_dir, max_new_tokens=12)
    full = model.complete(MSGS)
    assert len(full) >= 2, "the tiny model is seeded and decodes greedily: it always produces text to cut"
    stop = full[1:3]
    cut = model.complete(MSGS, stop=[stop])
    assert stop not in cut
    assert full.startswith(cut)


def test_cut_at_stop() -> None:
    text = "Thought: x\nObservation: y\nAction: z"
    assert cut_at_stop(text, ["Action:", "Observation:"]) == "Thought: x\n"
    assert cut_at_stop(text, None) == text
    assert cut_at_stop(text, ["", "nope"]) == text


def test_pick_device() -> None:  # shared with the experts: loading.pick_device
    assert pick_device("cpu") == "cpu"
    assert pick_device("auto") in {"cpu", "cuda"}


def test_missing_local_directory_names_the_model(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    model = build_chat_model(ControllerConfig(backend="transformers", model=str(missing), device="cpu"))
    with pytest.raises(LLMError) as info:
        model.complete(MSGS)
    assert str(missing) in str(info.value)
    assert "set controller.model to the directory" in str(info.value)


def test_empty_directory_names_the_model(tmp_path: Path) -> None:
    with pytest.raises(LLMError) as info:
        make_model(tmp_path).load()
    msg = str(info.value)
    assert str(tmp_path) in msg
    assert "must hold config.json" in msg


def test_unreachable_hub_id_names_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("transformers.utils.hub.constants.HF_HUB_OFFLINE", True, raising=False)
    model = make_model("mm-reactor-tests/definitely-not-cached-model")
    with pytest.raises(LLMError) as info:
        model.load()
    msg = str(info.value)
    assert "mm-reactor-tests/definitely-not-cached-model" in msg
    assert "download it on a machine with hub access" in msg


def test_tokenizer_without_chat_template(tmp_path: Path) -> None:
    directory = build_tiny_causal_lm(tmp_path / "no_template", chat_template=None)
    with pytest.raises(LLMError, match="no chat template"):
        make_model(directory).complete(MSGS)
