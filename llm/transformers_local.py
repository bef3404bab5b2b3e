"""Controller backend running a local Hugging Face causal LM with ``transformers``."""

from __future__ import annotations

import threading
from typing import Any

from llm.base import ChatMessage, LLMError
from llm.config import ENV_MODEL, ControllerConfig
from loading import ModelNotAvailable, load_pretrained, pick_device, pick_dtype

__all__ = ["TransformersChatModel", "cut_at_stop"]


def cut_at_stop(text: str, stop: list[str] | None) -> str:
    """Cut ``text`` before the earliest occurrence of any stop string."""
    if not stop:
        return text
    cut = len(text)
    for s in stop:
        if s:
            idx = text.find(s)
            if idx != -1:
                cut = min(cut, idx)
    return text[:cut]


class TransformersChatModel:
    """Chat model backed by ``AutoTokenizer`` + ``AutoModelForCausalLM`` loaded from ``config.model``.

    ``config.model`` is a hub id or a local directory, loaded by :func:`loading.load_pretrained` (a
    hub id is looked up in the local hub cache first, then on the hub). The model
    is loaded lazily on the first :meth:`complete` or by :meth:`load`; generation is greedy, bounded by
    ``config.max_new_tokens``, and the reply is cut at the first stop string.
    """

    is_replay: bool = False

    def __init__(self, config: ControllerConfig) -> None:
        if not config.model:
            raise LLMError(
                "the transformers controller backend needs a model: set controller.model (or "
                f"${ENV_MODEL}) to a hub id or a local directory holding the tokenizer and weights"
            )
        self.config = config
        self.model_id: str = config.model
        try:
            self.device: str = pick_device(config.device)
        except ModelNotAvailable as err:
            raise LLMError(f"controller: {err} (controller.device)") from err
        self.label: str = f"transformers {self.model_id} on {self.device}"
        self._tokenizer: Any = None
        self._model: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TransformersChatModel({self.label!r})"

    @property
    def loaded(self) -> bool:
        """Whether the tokenizer and weights are loaded."""
        return self._model is not None

    def load(self) -> None:
        """Load tokenizer and model now (idempotent); raise :class:`LLMError` when they cannot be loaded."""
        with self._lock:
            if self._model is not None:
                return
            self._load_locked()

    def _load_locked(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = self._from_pretrained(AutoTokenizer)
        if not getattr(tokenizer, "chat_template", None):
            raise LLMError(
                f"controller model {self.model_id!r}: its tokenizer has no chat template, so chat messages "
                "cannot be formatted -- use an instruction-tuned (chat) model, or add a `chat_template` "
                "to its tokenizer_config.json / chat_template.jinja"
            )
        # "auto" here keeps the checkpoint's own dtype (transformers' meaning), not float16-on-cuda
        dtype: Any = "auto" if self.config.dtype == "auto" else pick_dtype(self.config.dtype, self.device)
        model = self._from_pretrained(AutoModelForCausalLM, dtype=dtype)
        try:
            model.to(self.device)
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise LLMError(
                f"cannot move controller model {self.model_id!r} to device {self.device!r}: {exc} -- "
                'set controller.device to "cpu" or "auto"'
            ) from exc
        model.eval()
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer = tokenizer
        self._model = model

    def _from_pretrained(self, auto_cls: Any, **kwargs: Any) -> Any:
        """``auto_cls.from_pretrained(controller.model)``; a missing model is an :class:`LLMError`."""
        try:
            return load_pretrained(
                auto_cls.from_pretrained,
                self.model_id,
                owner="controller",
                option="controller.model",
                **kwargs,
            )
        except ModelNotAvailable as err:
            raise LLMError(str(err)) from err

    def complete(self, messages: list[ChatMessage], *, stop: list[str] | None = None) -> str:
        """Generate greedily from the chat-formatted ``messages``; return the new text cut at ``stop``."""
        self.load()
        import torch

        with self._lock:
            tokenizer, model = self._tokenizer, self._model
            conversation = [{"role": m["role"], "content": m["content"]} for m in messages]
            try:
                prompt = tokenizer.apply_chat_template(
                    conversation, add_generation_prompt=True, tokenize=False
                )
            except Exception as exc:  # jinja errors (e.g. a template that rejects a role)
                raise LLMError(
                    f"controller model {self.model_id!r}: its chat template failed on these messages: "
                    f"{exc} -- check the roles (some templates reject a system message) or use another model"
                ) from exc
            # The template already wrote any BOS token, so don't add special tokens again.
            enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            input_ids = enc["input_ids"].to(self.device)
            attention_mask = enc["attention_mask"].to(self.device)
            gen_kwargs: dict[str, Any] = {
                "max_new_tokens": self.config.max_new_tokens,
                "do_sample": False,
                "pad_token_id": tokenizer.pad_token_id,
            }
            if stop:
                gen_kwargs["stop_strings"] = list(stop)
                gen_kwargs["tokenizer"] = tokenizer
            try:
                with torch.inference_mode():
                    output = model.generate(input_ids=input_ids, attention_mask=attention_mask, **gen_kwargs)
            except (RuntimeError, ValueError) as exc:
                raise LLMError(
                    f"controller model {self.model_id!r} failed to generate on {self.device}: {exc} -- "
                    "if out of memory, lower controller.max_new_tokens, use a smaller model or dtype, "
                    'or set controller.device to "cpu"'
                ) from exc
            new_tokens = output[0, input_ids.shape[1] :]
            text = tokenizer.decode(new_tokens, skip_special_tokens=True)
        return cut_at_stop(text, stop)
