"""The wire between orchestrator and replica (experts/protocol.py), and how a replica answers; no Ray."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from experts.base import Expert, ExpertError, ImageData, ImageRef, NewBoxes, NewImage, NewMask, NewText
from experts.deployment import answer
from experts.protocol import Failure, NewArtifact, Reply, pack_output, pixel_content_id
from experts.segment import cache_key
from orchestrator.serving.catalogue import DeployedExpert, ExpertCatalogue
from orchestrator.storage.artifacts import ArtifactStore, artifact_uri
from tests.support.experts import Broken, MllmStub


class Everything(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: NewImage
    masks: list[NewMask]
    lines: NewBoxes
    caption: NewText
    score: Any
    nested: dict[str, Any]


def test_reply_is_an_output_or_an_error():
    assert Reply(replica="r#1", output={"x": 1}).ok
    failed = Reply.failed("r#1", "input", "box outside the image")
    assert not failed.ok and failed.error == Failure(kind="input", message="box outside the image")
    with pytest.raises(ValidationError, match="either an output or an error"):
        Reply(replica="r#1")
    with pytest.raises(ValidationError, match="either an output or an error"):
        Reply(replica="r#1", output={}, error=Failure(kind="expert", message="boom"))
    with pytest.raises(ValidationError):
        Failure(kind="oops", message="not a kind")  # type: ignore[arg-type]


def test_new_pixels_must_carry_their_reference_and_id():
    with pytest.raises(ValidationError, match="object reference and content id"):
        NewArtifact(path=("image",), kind="image", shape=[2, 2], summary={}, content_id="abc")
    with pytest.raises(ValidationError, match="must carry its value"):
        NewArtifact(path=("lines",), kind="boxes", shape=[0], summary={})


def test_pack_output_keeps_pixels_out_of_the_reply(tmp_path):
    put: list[np.ndarray] = []

    def fake_put(array: np.ndarray) -> str:
        put.append(array)
        return f"ref-{len(put)}"

    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    mask = np.zeros((2, 3), np.uint8)
    mask[0, 1:] = 7
    numpy_score: Any = np.float32(0.91234)  # experts often hand over numpy scalars
    output = Everything(
        image=NewImage(image),
        masks=[NewMask(mask, score=numpy_score), NewMask(np.zeros((2, 3), bool))],
        lines=NewBoxes([{"box": (0, 0, 2, 1), "score": np.float64(0.5)}]),
        caption=NewText("a sign"),
        score=np.int64(3),
        nested={"edges": (1, 2)},
    )
    plain, artifacts = pack_output(output, fake_put)
    assert plain == {
        "image": None,
        "masks": [None, None],
        "lines": None,
        "caption": None,
        "score": 3,
        "nested": {"edges": [1, 2]},
    }
    assert [a.path for a in artifacts] == [("image",), ("masks", 0), ("masks", 1), ("lines",), ("caption",)]
    assert [a.ref for a in artifacts[:3]] == ["ref-1", "ref-2", "ref-3"] and len(put) == 3
    first_mask = artifacts[1]
    assert put[1].dtype == bool and first_mask.summary == {
        "size": [3, 2],
        "area": 2,
        "bbox": [1, 0, 3, 1],
        "score": 0.9123,
    }
    assert artifacts[2].summary["bbox"] is None
    assert artifacts[3].value == [{"box": [0, 0, 2, 1], "score": 0.5}] and artifacts[3].summary["count"] == 1
    assert artifacts[4].value == "a sign" and artifacts[4].summary == {"text": "a sign"}
    # The replica's content ids are the artifact store's ids, so the uri is known before the write.
    store = ArtifactStore(tmp_path)
    for artifact, array in zip(artifacts[:2], put[:2], strict=True):
        stored_id, shape, uri = store.put(artifact.kind, array)
        assert artifact.content_id == stored_id and artifact.shape == shape
        assert uri == artifact_uri(artifact.kind, stored_id)


def test_pack_output_refuses_malformed_pixels():
    class Bad(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        image: NewImage

    with pytest.raises(ValueError, match="HxWx3 uint8"):
        pack_output(Bad(image=NewImage(np.zeros((4, 4), np.float32))), lambda a: a)


def _answer(expert: Expert, arguments: dict[str, Any]) -> Reply:
    async def run(inputs: BaseModel) -> BaseModel:
        return expert.run(inputs)

    return asyncio.run(answer(expert, arguments, run, "test#1"))


def test_an_expert_failure_is_logged_in_the_replica_with_its_traceback(caplog):
    pixels = ImageData("image-7", np.zeros((4, 4, 3), np.uint8))
    with caplog.at_level(logging.ERROR, logger="experts.deployment"):
        reply = _answer(Broken(), {"image": pixels})
    assert reply.error is not None and reply.error.kind == "expert"
    assert reply.error.message == "broken failed: RuntimeError: simulated model failure on image-7"
    assert reply.error.traceback is not None and "Traceback" in reply.error.traceback
    assert "raise RuntimeError" in reply.error.traceback
    (logged,) = [r for r in caplog.records if r.name == "experts.deployment"]
    # the traceback is in the message itself, redacted like every text the replica logs
    assert logged.levelno == logging.ERROR and "raise RuntimeError" in logged.getMessage()
    assert "broken" in logged.getMessage() and "simulated model failure" in caplog.text


class Picky(Expert):
    name = "picky"
    description = "Refuses every image it is given (used to test input errors)."

    class Input(BaseModel):
        image: ImageRef

    class Output(BaseModel):
        ok: bool

    def run(self, inputs: Input) -> Output:
        raise ExpertError(f"{inputs.image.handle} is too dark; give a brighter image")


def test_input_and_argument_problems_are_typed_and_not_logged_as_bugs(caplog):
    pixels = ImageData("image-1", np.zeros((4, 4, 3), np.uint8))
    with caplog.at_level(logging.ERROR, logger="experts.deployment"):
        refused = _answer(Picky(), {"image": pixels})
        wrong = _answer(Picky(), {"picture": pixels})
    assert refused.error == Failure(kind="input", message="image-1 is too dark; give a brighter image")
    assert wrong.error is not None and wrong.error.kind == "arguments" and "image" in wrong.error.message
    assert not caplog.records


def test_sam_cache_keys_on_the_content_id_without_hashing(monkeypatch):
    pixels = np.zeros((4, 4, 3), np.uint8)
    assert cache_key(ImageData("image-1", pixels)) == cache_key(ImageData("image-9", pixels.copy()))

    def no_hashing(array: np.ndarray) -> str:
        raise AssertionError("pixels that came with a content id were hashed again")

    monkeypatch.setattr("experts.segment.image_key", no_hashing)
    content = pixel_content_id("image", pixels)
    assert cache_key(ImageData("image-1", pixels, content)) == cache_key(
        ImageData("image-2", pixels, content)
    )


def test_task_answering_is_a_declared_capability():
    catalogue = ExpertCatalogue()
    catalogue.add(DeployedExpert("vlm", MllmStub, None, "vlm", 30.0))  # type: ignore[arg-type]
    catalogue.add(DeployedExpert("broken", Broken, None, "broken", 30.0))  # type: ignore[arg-type]
    assert catalogue.task_answerers() == ["vlm"]
    vlm = catalogue.get("vlm")
    assert vlm is not None and vlm.is_task_call({"image": "image-1", "mode": "answer", "question": "?"})
    assert not vlm.is_task_call({"image": "image-1", "mode": "caption"})
    assert not Expert.is_task_call({"mode": "answer"}) and not Broken.answers_tasks


def test_the_wire_is_ray_free_and_the_agent_uses_only_it():
    import ast
    import subprocess
    import sys
    from pathlib import Path

    probe = "import sys, experts.protocol; assert 'ray' not in sys.modules, 'experts.protocol imports Ray'"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0
    allowed = {"experts.protocol", "experts.base"}
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "orchestrator" / "agent").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.split(".")[0] == "experts":
                    assert name in allowed, f"{path.relative_to(root)} imports {name}"
