"""A tiny random-weight chat causal LM built in-process (no downloads), for offline tests.

``build_tiny_causal_lm(directory)`` trains a small BPE tokenizer, wraps it with a chat template,
builds a 2-layer Llama with random weights and saves both into ``directory``, which can then be used
as ``ControllerConfig(backend="transformers", model=str(directory))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_CORPUS = [
    "Thought: I need to look at the image. Action: caption Action Input: image_0",
    "Observation: a dog running on the beach with a red ball in its mouth.",
    "Thought: I now know the final answer. Final Answer: there is one dog.",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9",
    "Detect objects, read text with OCR, count people, describe the scene.",
    "system user assistant: what is in this picture? {} [] () , . ; : ' \"",
]

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]


def build_tiny_tokenizer(
    *, chat_template: str | None = CHAT_TEMPLATE, vocab_size: int = 300
) -> PreTrainedTokenizerFast:
    """A ``PreTrainedTokenizerFast`` trained on a few sentences (optionally without a chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
    )
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


def build_tiny_causal_lm(
    directory: str | Path, *, chat_template: str | None = CHAT_TEMPLATE, seed: int = 0
) -> Path:
    """Save a tiny random-weight Llama chat model (tokenizer + weights) into ``directory``; return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(chat_template=chat_template)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.eval()
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory
