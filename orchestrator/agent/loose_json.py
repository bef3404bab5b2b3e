"""JSON as LLMs write it: balanced objects found in prose, and Python literals read without evaluating.

Shared by the turn parser (Action Input) and the plan reader. Both functions are linear in their
input and never run code.
"""

from __future__ import annotations

import ast
import warnings
from typing import Any

__all__ = ["literal", "scan_balanced"]


def scan_balanced(s: str) -> tuple[str, int, bool]:
    """Take the balanced object that ``s`` starts with, honouring quotes and dropping trailing commas.

    Returns (object text, end index in ``s``, whether the object closed).
    """
    out: list[str] = []
    depth, quote, escaped = 0, "", False
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        elif c == ",":
            j = i + 1
            while j < n and s[j].isspace():
                j += 1
            if j < n and s[j] in "}]":
                i = j
                continue
        out.append(c)
        i += 1
        if depth == 0:
            break
    return "".join(out), i, depth == 0


def literal(text: str) -> Any:
    """A Python literal read from untrusted text (never evaluated); ValueError when it is none.

    The value may hold what JSON has no word for (sets, bytes, complex numbers): pass it through
    :func:`~orchestrator.agent.normalise.plain_json`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.literal_eval(text)
    except Exception as err:  # untrusted text: SyntaxError, unhashable keys, recursion, int limits, ...
        raise ValueError(f"not a literal: {type(err).__name__}") from None
