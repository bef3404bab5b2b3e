"""A tiny random-weight chat LM whose every token is a whole word, for the text expert's tests.

A byte-level tokenizer (``tests/llm/tiny_causal_lm.py``) makes a random model's answers decode to
broken UTF-8 ("�"), so different answers look alike; with a word-level vocabulary every answer is
readable words and two answers differ visibly when their tokens differ. Saved with
``save_pretrained`` so the expert loads it through its real ``from_pretrained(local_dir)`` path.
"""

from __future__ import annotations

from pathlib import Path

from tests.llm.tiny_causal_lm import CHAT_TEMPLATE, SPECIAL_TOKENS

__all__ = ["build_tiny_text_lm"]

_SENTENCES = [
    "the a dog cat ball beach red blue green sign shop open closed exit north south east west",
    "one two three four five summary french translate list answer yes no is on in of and with",
    "text words line instruction you work careful reply result only given . , : ? !",
]
WORDS = [word for sentence in _SENTENCES for word in sentence.split(" ")]


def build_tiny_text_lm(directory: str | Path, *, seed: int = 0) -> Path:
    """Save a 2-layer Llama with a word-level tokenizer and a chat template into ``directory``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.5,  # large random weights: answers depend visibly on the prompt
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory
