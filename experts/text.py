"""Text: an instruction applied to texts (answer, summarise, translate, list, rewrite) by a language model,
or an exact count (words, lines, characters) without one.

The model is configurable: a local chat causal LM (``backend: transformers``, the default), the
multimodal LLM answering from text alone (``backend: mllm``), or any OpenAI-compatible endpoint
(``backend: openai``). Texts are text artifacts (``text-1``: an OCR reading, a caption, an earlier
answer) or literal strings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from experts._loading import DeviceSettings
from experts._text_or_handle import TextOrHandle
from experts.base import Expert, ExpertError, NewText, TextData

Exact = Literal["count_words", "count_lines", "count_characters"]

SYSTEM_PROMPT = (
    "You work on text for a multimodal assistant. Follow the instruction exactly, using only the "
    "given texts and general knowledge. Reply with the result only: no preamble, no explanation."
)


class TextInput(BaseModel):
    instruction: str = Field(
        default="",
        max_length=4000,
        description="what to do with the texts, e.g. 'Summarise in one sentence', 'Translate into French', "
        "'List the product names, one per line', 'Which shop opens on Sunday?'; not needed with 'exact'",
    )
    texts: list[TextOrHandle] = Field(
        default_factory=list,
        max_length=16,
        description="the texts to work on: text artifact handles like 'text-1' (an OCR reading, a caption, "
        "an answer) or literal text; may be empty when the instruction holds everything",
    )
    exact: Exact | None = Field(
        default=None,
        description="count exactly instead of asking the model: 'count_words', 'count_lines' (non-empty) "
        "or 'count_characters' of each text, summed",
    )
    max_new_tokens: int | None = Field(
        default=None, ge=1, le=4096, description="longest answer in tokens (default $max_new_tokens)"
    )

    @model_validator(mode="after")
    def _something_to_do(self) -> TextInput:
        if self.exact is None and not self.instruction.strip():
            raise ValueError("give an 'instruction' (what to do with the texts), or 'exact' to count")
        if self.exact is not None and not self.texts:
            raise ValueError(f"'exact': '{self.exact}' needs 'texts' to count")
        return self


class TextOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str = Field(description="the result")
    answer: NewText = Field(description="the result stored as a text artifact")
    counts: list[int] | None = Field(default=None, description="with 'exact': the count of each text")


class TextSettings(DeviceSettings):
    """Options for the ``options:`` of the text entry in the config (unknown keys are rejected)."""

    backend: Literal["transformers", "mllm", "openai"] = Field(
        default="transformers",
        description="transformers: a local chat causal LM; mllm: a Qwen2-VL or LLaVA checkpoint used "
        "without images; openai: an OpenAI-compatible endpoint (vLLM, Ollama, Ray Serve LLM, OpenAI)",
    )
    model: str = Field(
        default="Qwen/Qwen2.5-1.5B-Instruct",
        description="transformers: hub id or local directory of a chat model; mllm: of a checkpoint of "
        "`family`; openai: the served model's name",
    )
    family: Literal["qwen2_vl", "llava"] = Field(
        default="qwen2_vl", description="mllm backend: the checkpoint's architecture"
    )
    base_url: str | None = Field(
        default=None, description="openai backend: endpoint root, e.g. http://host:8000/v1"
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="openai backend: bearer key; when unset, read from MM_REACTOR_TEXT_API_KEY on the "
        "replica",
    )
    timeout_s: float = Field(
        default=120.0, gt=0, description="openai backend: seconds to wait for one answer"
    )
    max_new_tokens: int = Field(default=256, ge=1, le=4096, description="longest answer in tokens")
    max_input_chars: int = Field(
        default=32000, ge=1, description="longest instruction plus texts of one call, in characters"
    )

    @model_validator(mode="after")
    def _backend_needs(self) -> TextSettings:
        if self.backend != "transformers" and "model" not in self.model_fields_set:
            what = (
                "a Qwen2-VL or LLaVA checkpoint (hub id or local directory)"
                if self.backend == "mllm"
                else ("the name the endpoint serves the model under")
            )
            raise ValueError(f"backend '{self.backend}' needs options.model: {what}")
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend 'openai' needs options.base_url, e.g. http://localhost:8000/v1")
        return self


def exact_counts(kind: Exact, texts: list[str]) -> list[int]:
    """The count of each text: whitespace-separated words, non-empty lines, or characters."""
    if kind == "count_words":
        return [len(text.split()) for text in texts]
    if kind == "count_lines":
        return [sum(1 for line in text.splitlines() if line.strip()) for text in texts]
    return [len(text) for text in texts]


def user_prompt(instruction: str, texts: list[str]) -> str:
    """The instruction, then each text under its own heading."""
    if not texts:
        return instruction.strip()
    if len(texts) == 1:
        return f"Instruction: {instruction.strip()}\n\nText:\n{texts[0]}"
    parts = "\n\n".join(f"Text {i}:\n{text}" for i, text in enumerate(texts, 1))
    return f"Instruction: {instruction.strip()}\n\n{parts}"


class Text(Expert[TextInput, TextOutput]):
    name = "text"
    extra = "vision"
    description = (
        "Work on text with a language model: give an 'instruction' (answer a question, summarise, "
        "translate, list, extract, rewrite) and 'texts' (text artifact handles like 'text-1', e.g. OCR "
        "or caption output, or literal text). With 'exact' it counts words, lines or characters "
        "exactly instead. Returns 'text' and the same as a text artifact. It cannot see images: pass "
        "what other experts read or described."
    )
    Input = TextInput
    Output = TextOutput
    Settings = TextSettings
    thread_safe = False  # one generate at a time per replica; concurrent calls share batches instead

    settings: TextSettings

    def setup(self) -> None:
        from experts import _text_backends as backends

        s = self.settings
        if s.backend == "openai":
            key = s.api_key.get_secret_value() if s.api_key is not None else None
            self.backend: backends.TextBackend = backends.Endpoint(
                str(s.base_url), s.model, api_key=key, timeout_s=s.timeout_s
            )
        elif s.backend == "mllm":
            self.backend = backends.MllmText(
                s.family, s.model, device=s.device, dtype=s.dtype, expert=self.name
            )
        else:
            self.backend = backends.CausalLM(s.model, device=s.device, dtype=s.dtype, expert=self.name)

    def run(self, inputs: TextInput) -> TextOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[TextInput]) -> list[TextOutput | ExpertError]:
        """Exact counts at once; every model request of the batch in one backend call."""
        from experts._text_backends import Request

        results: list[TextOutput | ExpertError | None] = [None] * len(batch)
        requests: dict[int, Request] = {}
        for i, item in enumerate(batch):
            try:
                texts = self._texts(item)
            except ExpertError as err:
                results[i] = err
                continue
            if item.exact is not None:
                counts = exact_counts(item.exact, texts)
                total = str(sum(counts))
                results[i] = TextOutput(text=total, answer=NewText(total), counts=counts)
            else:
                limit = item.max_new_tokens or self.settings.max_new_tokens
                requests[i] = Request(SYSTEM_PROMPT, user_prompt(item.instruction, texts), limit)
        if requests:
            answers = self.backend.generate(list(requests.values()))
            for i, answer in zip(requests, answers, strict=True):
                results[i] = TextOutput(text=answer, answer=NewText(answer))
        return [r for r in results if r is not None]

    def _texts(self, item: TextInput) -> list[str]:
        """The call's texts as strings, checked against the size limit."""
        texts = [t.text if isinstance(t, TextData) else t for t in item.texts]
        size = len(item.instruction) + sum(len(t) for t in texts)
        limit = self.settings.max_input_chars
        if size > limit:
            raise ExpertError(
                f"the instruction and texts are {size} characters, over this expert's limit of {limit}; "
                "pass fewer or shorter texts (e.g. summarise each one first)"
            )
        return texts


__all__ = ["Text", "TextInput", "TextOutput", "TextSettings", "exact_counts", "user_prompt"]
