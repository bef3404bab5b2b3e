"""The text expert on its three backends: a tiny local chat LM, a tiny MLLM without images, and a fake
OpenAI-compatible endpoint; exact counts; text handles resolved to their text through Serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from experts.base import ExpertError, PendingRef, TextData
from experts.text import SYSTEM_PROMPT, Text, exact_counts, user_prompt
from llm import ControllerConfig, TransformersChatModel
from llm.scripted import ScriptedChatModel
from loading import ModelNotAvailable
from tests.experts.harness import deployed
from tests.experts.tiny_mllm import build_tiny_mllm
from tests.experts.tiny_text import build_tiny_text_lm
from tests.llm.tiny_causal_lm import build_tiny_causal_lm
from tests.support.fake_openai import FakeOpenAI

SECRET = "sk-test-0123456789-secret"


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_text_lm(tmp_path_factory.mktemp("tiny-text-lm"))


@pytest.fixture(scope="module")
def local(lm_dir: Path) -> Text:
    expert = Text({"model": str(lm_dir), "device": "cpu", "max_new_tokens": 8})
    expert.setup()
    return expert


def item(**arguments) -> Text.Input:
    return Text.Input.model_validate(arguments)


BATCH = [
    {"instruction": "Summarise in one line", "texts": ["a dog on the beach with a red ball"]},
    {"instruction": "Translate into French: the shop is open"},
    {"instruction": "List the exits", "texts": ["exit north", "exit south"], "max_new_tokens": 3},
]


# --- the arguments --------------------------------------------------------------------------------


def test_texts_are_handles_or_literal_text() -> None:
    inputs = item(instruction="x", texts=["text-2", "the sign says text-2", " text-3 "])
    assert inputs.texts == [
        PendingRef("text-2", "text"),
        "the sign says text-2",
        PendingRef("text-3", "text"),
    ]
    with pytest.raises(ValidationError, match="'image-1' is a image handle; give a text handle"):
        item(instruction="x", texts=["image-1"])
    with pytest.raises(ValidationError, match="give an 'instruction'"):
        item(texts=["hello"])
    with pytest.raises(ValidationError, match="'exact': 'count_words' needs 'texts'"):
        item(exact="count_words")


def test_settings_say_what_each_backend_needs() -> None:
    with pytest.raises(ValidationError, match=r"backend 'mllm' needs options.model: a Qwen2-VL or LLaVA"):
        Text.Settings.model_validate({"backend": "mllm"})
    with pytest.raises(ValidationError, match=r"backend 'openai' needs options.base_url"):
        Text.Settings.model_validate({"backend": "openai", "model": "m"})
    shown = repr(
        Text.Settings.model_validate(
            {"backend": "openai", "model": "m", "base_url": "http://h/v1", "api_key": SECRET}
        )
    )
    assert SECRET not in shown


# --- exact counts need no model ------------------------------------------------------------------------


def test_exact_counts_without_a_model() -> None:
    texts = ["EXIT NORTH\nOPEN  daily\n\n", "one"]
    assert exact_counts("count_words", texts) == [4, 1]
    assert exact_counts("count_lines", texts) == [2, 1]
    assert exact_counts("count_characters", texts) == [len(texts[0]), 3]
    out = Text().run(item(exact="count_words", texts=[*texts, TextData("text-1", "a b c")]))  # no setup()
    assert out.text == "8" and out.answer.text == "8" and out.counts == [4, 1, 3]


def test_prompt_names_each_text() -> None:
    assert user_prompt("Go", []) == "Go"
    assert user_prompt("Sum up", ["abc"]) == "Instruction: Sum up\n\nText:\nabc"
    assert user_prompt("Compare", ["a", "b"]) == "Instruction: Compare\n\nText 1:\na\n\nText 2:\nb"


# --- a local chat LM (transformers) --------------------------------------------------------------------


def test_batch_is_one_generate_and_matches_single_calls(local: Text, monkeypatch) -> None:
    calls = []
    generate = local.backend.generate
    monkeypatch.setattr(
        local.backend, "generate", lambda requests: calls.append(len(requests)) or generate(requests)
    )
    together = [out.text for out in local.run_batch([item(**a) for a in BATCH])]
    assert calls == [3]
    assert together == [local.run(item(**a)).text for a in BATCH]
    assert len(set(together)) == 3 and all(together)  # different prompts, different (random) answers
    assert len(together[2].split()) <= 3


def test_answers_match_the_controller_backend_on_the_same_model(local: Text, lm_dir: Path) -> None:
    """The same weights through llm/'s TransformersChatModel give the same greedy answer."""
    chat = TransformersChatModel(
        ControllerConfig(backend="transformers", model=str(lm_dir), device="cpu", max_new_tokens=8)
    )
    for arguments in BATCH[:2]:
        prompt = user_prompt(arguments["instruction"], arguments.get("texts", []))
        expected = chat.complete(
            [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}]
        )
        assert local.run(item(**arguments)).text == expected.strip()


def test_an_oversized_call_fails_alone(local: Text) -> None:
    small = Text({"model": local.settings.model, "device": "cpu", "max_new_tokens": 4, "max_input_chars": 40})
    small.backend = local.backend
    results = small.run_batch([item(instruction="Sum up", texts=["x" * 50]), item(instruction="Say yes")])
    assert isinstance(results[0], ExpertError) and "56 characters, over this expert's limit of 40" in str(
        results[0]
    )
    assert not isinstance(results[1], ExpertError) and results[1].text


def test_a_model_without_a_chat_template_is_refused(tmp_path: Path) -> None:
    plain = build_tiny_causal_lm(tmp_path / "plain", chat_template=None)
    with pytest.raises(ModelNotAvailable, match=r"expert 'text': model .* has no chat template"):
        Text({"model": str(plain), "device": "cpu"}).setup()


# --- the MLLM without images ------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["qwen2_vl", "llava"])
def test_the_mllm_answers_from_text_alone(family: str, tmp_path: Path) -> None:
    model = build_tiny_mllm(tmp_path / family, family)
    expert = Text(
        {"backend": "mllm", "family": family, "model": str(model), "device": "cpu", "max_new_tokens": 5}
    )
    expert.setup()
    batch = [item(**BATCH[0]), item(instruction="What does <image> mean here?")]  # image tokens stay text
    together = expert.run_batch(batch)
    assert [out.text for out in together] == [expert.run(one).text for one in batch]
    assert expert.backend.label.endswith("text only")


def test_the_wrong_family_is_refused(tmp_path: Path) -> None:
    model = build_tiny_mllm(tmp_path / "llava", "llava")
    with pytest.raises(ModelNotAvailable, match=r"'llava' checkpoint but options.family is 'qwen2_vl'"):
        Text({"backend": "mllm", "model": str(model), "device": "cpu"}).setup()


# --- an OpenAI-compatible endpoint --------------------------------------------------------------------


def echo(request: dict) -> dict:
    return {"role": "assistant", "content": f"  answer to: {request['messages'][-1]['content'][-20:]}  "}


def test_an_endpoint_gets_every_request_of_a_batch_with_the_key() -> None:
    server = FakeOpenAI([echo] * 3)
    try:
        expert = Text({"backend": "openai", "model": "served-lm", "base_url": server.url, "api_key": SECRET})
        expert.setup()
        results = expert.run_batch([item(**a) for a in BATCH])
    finally:
        server.close()
    prompts = [user_prompt(a["instruction"], a.get("texts", [])) for a in BATCH]
    assert [r.text for r in results] == [f"answer to: {prompt[-20:]}".strip() for prompt in prompts]
    assert sorted(body["max_tokens"] for body in server.requests) == [3, 256, 256]
    assert {body["model"] for body in server.requests} == {"served-lm"}
    assert all(h["Authorization"] == f"Bearer {SECRET}" for h in server.headers)
    assert SECRET not in expert.backend.label and "tools" not in server.requests[0]


def test_an_endpoint_failure_names_the_text_expert() -> None:
    expert = Text({"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "timeout_s": 2})
    expert.setup()
    with pytest.raises(RuntimeError, match="the text expert's endpoint failed: cannot reach"):
        expert.run(item(instruction="hi"))


# --- through Serve ---------------------------------------------------------------------------------------


@pytest.mark.ray
def test_a_plan_counts_words_then_hands_the_text_artifact_on(orch, local: Text, lm_dir: Path) -> None:
    plan = [
        {
            "id": 0,
            "tool": "text",
            "arguments": {"exact": "count_words", "texts": ["exit north", "open daily now"]},
        },
        {
            "id": 1,
            "tool": "text",
            "arguments": {"instruction": "Say the number in words", "texts": ["<step-0>"]},
        },
    ]
    options = {"model": str(lm_dir), "device": "cpu", "max_new_tokens": 8}
    with deployed(orch, "text", options=options, batching={}):
        result = orch.run_plan(plan)
    assert result.ok, result.failure
    steps = [s for s in result.steps if s.tool]
    assert steps[1].arguments["texts"] == ["text-1"] and result.artifacts["text-1"].load() == "5"
    # the replica read text-1's text: the same answer as a direct call on "5"
    expected = local.run(item(instruction="Say the number in words", texts=["5"])).text
    assert result.artifacts["text-2"].load() == expected and result.artifacts["text-2"].parents == ["text-1"]


@pytest.mark.ray
def test_the_key_stays_out_of_everything_the_run_returns(orch, tmp_path: Path) -> None:
    server = FakeOpenAI([echo])
    options = {"backend": "openai", "model": "served-lm", "base_url": server.url, "api_key": SECRET}
    turns = [
        'Thought: ask\nAction: text\nAction Input: {"instruction": "Answer", "texts": ["is it open?"]}',
        "Thought: done\nFinal Answer: see text-1",
    ]
    try:
        with deployed(orch, "text", options=options):
            result = orch.run("ask the endpoint", chat_model=ScriptedChatModel(turns))
            prompt = orch.system_prompt()
    finally:
        server.close()
    assert result.ok, result.failure
    step = next(s for s in result.steps if s.tool)
    assert (
        step.error is None
        and json.loads(step.observation)["output"]["text"]
        == "answer to: " + user_prompt("Answer", ["is it open?"])[-20:]
    )
    assert server.headers[0]["Authorization"] == f"Bearer {SECRET}"
    report = tmp_path / "run.html"
    result.save_report(report)
    for text in (result.model_dump_json(), report.read_text(), prompt):
        assert SECRET not in text
