"""The transformers controller with a real chat model: it answers and acts in the MM-ReAct format."""

from __future__ import annotations

import os

import pytest

from experts.registry import load_expert_class
from llm.config import ControllerConfig
from orchestrator.agent.parser import ParsedTurn, ParseError, parse_turn
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue
from prompts import render
from tests.weights.layout import CONTROLLER_ENV, model_dir

pytestmark = pytest.mark.weights


def parsed(reply: str) -> ParsedTurn:
    try:
        return parse_turn(reply)
    except ParseError as err:
        pytest.fail(f"the reply is not in the MM-ReAct format ({err}):\n{reply}")


@pytest.fixture(scope="module")
def controller():
    from llm.transformers_local import TransformersChatModel

    model_id = ControllerConfig().model or os.environ.get(CONTROLLER_ENV, "").strip()
    if not model_id:
        pytest.skip(
            f"needs real weights: set {CONTROLLER_ENV}=<hub id of an instruction-tuned chat model, e.g. "
            "Qwen/Qwen2.5-7B-Instruct> with its files in $MM_REACTOR_WEIGHTS/<hub id>/"
        )
    config = ControllerConfig(backend="transformers", model=model_dir(model_id), max_new_tokens=160)
    model = TransformersChatModel(config)
    model.load()
    return model


def test_answers_in_the_final_answer_format(controller) -> None:
    system = (
        "Reply in exactly this format and nothing else:\n" + "Thought: <one sentence>\nFinal Answer: <answer>"
    )
    reply = controller.complete(
        [{"role": "system", "content": system}, {"role": "user", "content": "What is 17 + 25?"}],
        stop=["\nObservation:"],
    )
    turn = parsed(reply)
    assert turn.final_answer is not None and "42" in turn.final_answer, reply


def test_first_turn_calls_ocr_on_the_named_image(controller) -> None:
    catalogue = ExpertCatalogue()
    for name in ("ocr", "crop", "resize"):
        catalogue.add(DeployedExpert(name, load_expert_class(name), handle=None, app_name=name, timeout_s=5))  # type: ignore[arg-type]
    system = render("system", catalogue=catalogue.render(), routing="")
    task = render(
        "task", task="What does the sign in image-1 say?", artifacts="- image-1: image 640x240, input image"
    )
    reply = controller.complete(
        [{"role": "system", "content": system}, {"role": "user", "content": task}], stop=["\nObservation:"]
    )
    turn = parsed(reply)
    assert [a.tool for a in turn.actions][:1] == ["ocr"], reply
    assert turn.actions[0].arguments.get("image") == "image-1", reply
