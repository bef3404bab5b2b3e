"""Hypothesis strategies for hostile controller output: text replies, plans and native tool calls.

What the issue's adversarial trial threw at the loop, generated: integers beyond 64 bits, deep
nesting, lone surrogates, Python values JSON has no word for (complex numbers, sets, bytes, ``...``,
tuple keys), near-miss references, fences inside arguments, steps without brackets, ambiguous turns.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from llm.base import ToolCall, ToolReply

LIVE_TOOLS = ["noop", "crop", "draw_boxes", "canny", "threshold", "resize", "overlay_mask", "invert", "ocr"]
TOOLS = st.sampled_from([*LIVE_TOOLS, "teleport", "OCR", "`crop`", "crop()", "final_answer", "9x", ""])
HANDLES = ["image-1", "image-2", "mask-1", "boxes-1", "text-1", "image-0", "/etc/passwd", "file:///x.png"]
REFERENCES = [
    "<step-0>",
    "<step-1>.image",
    "<step-0>.lines[0].box",
    "<step-0>.lines",
    "<step-0>.mask.bbox",
    "<step-1>.masks[3]",
    "<GENERATED>-1",
    "<node-2>",
    "<GENERATED-0>",
    "<step 1>",
    "<step-" + "9" * 60 + ">",
    "say <step-0> twice <step-0>",
]
# Python-literal and JSON texts that no checkpointer can store, or that broke the parser once.
NASTY = [
    "1j",
    "{1, 2}",
    "b'raw'",
    "...",
    "(1, 2)",
    "set()",
    "18446744073709551616",
    "-18446744073709551617",
    "9" * 5000,
    "NaN",
    "-Infinity",
    "1e999",
    '"\\ud800"',
    '"\\udfff tail"',
    "__import__('os')",
    "[" * 31 + "]" * 31,
    "[" * 40 + "]" * 40,
    "[" * 250 + "]" * 250,
    "[" * 300,
    "\"the sign says ```[{'id': 7, 'tool': 'crop'}]```\"",
    '"Action: crop\\nAction Input: {}"',
]
NASTY_KEYS = ['"\\ud800"', "1", "(1, 2)", "[1]", "None", "{}", '"image"', '"box"', '"payload"', '"mask"']

_SCALAR_TEXT = st.one_of(
    st.integers().map(str),
    st.floats().map(lambda f: json.dumps(f)),
    st.booleans().map(json.dumps),
    st.text(max_size=20).map(json.dumps),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3).map(
        json.dumps
    ),
    st.sampled_from(HANDLES + REFERENCES).map(json.dumps),
    st.sampled_from(NASTY),
)


def _object(items: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"


VALUE_TEXT = st.recursive(
    _SCALAR_TEXT,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(NASTY_KEYS), inner), max_size=4).map(_object),
    ),
    max_leaves=5,
)
ARGUMENTS_TEXT = st.lists(st.tuples(st.sampled_from(NASTY_KEYS), VALUE_TEXT), max_size=3).map(_object)
LABEL = st.sampled_from(
    ["Thought:", "Action:", "Action Input:", "Final Answer:", "Plan:", "Observation:", "**"]
)


@st.composite
def step_texts(draw: st.DrawFn) -> str:
    """One plan step as text: ids, tools, arguments and dependencies, some of them wrong."""
    parts = []
    if draw(st.booleans()):
        parts.append(
            ('"id"', draw(st.one_of(st.integers(-1, 4).map(str), st.sampled_from([*NASTY, '"node-1"']))))
        )
    parts.append((draw(st.sampled_from(['"tool"', '"task"', '"name"'])), json.dumps(draw(TOOLS))))
    parts.append((draw(st.sampled_from(['"arguments"', '"args"'])), draw(ARGUMENTS_TEXT)))
    if draw(st.booleans()):
        deps = st.sampled_from(['"0,1"', "[0]", "-1", '"-1"', '[1, "<step-0>"]', '"node-0"', *NASTY])
        parts.append(('"dep"', draw(deps)))
    return _object(parts)


@st.composite
def plan_texts(draw: st.DrawFn) -> str:
    """A plan as an LLM might write it: JSON or Python quotes, fenced, with or without brackets."""
    steps = draw(st.lists(step_texts(), min_size=1, max_size=3))
    body = ", ".join(steps)
    shape = draw(st.sampled_from(["list", "bare", "fenced", "python", "preamble", "wrapped"]))
    if shape == "list":
        return f"[{body}]"
    if shape == "bare":
        return body
    if shape == "fenced":
        return f"```json\n[{body}]\n```"
    if shape == "python":
        return f"[{body}]".replace('"', "'")
    if shape == "preamble":
        return f"Here is my plan (v2):\n[{body}]\nThat should do it."
    return json.dumps({"steps": "placeholder"}).replace('"placeholder"', f"[{body}]")


@st.composite
def text_replies(draw: st.DrawFn) -> str:
    """A controller reply in the text format: actions, a plan, an answer, two of them, or noise."""
    parts = []
    if draw(st.booleans()):
        parts.append("Thought: " + draw(st.text(max_size=30)))
    for _ in range(draw(st.integers(0, 2))):
        parts.append(f"Action: {draw(TOOLS)}\nAction Input: {draw(ARGUMENTS_TEXT)}")
    if draw(st.integers(0, 3)) == 0:
        parts.append("Plan:\n" + draw(plan_texts()))
    if draw(st.integers(0, 2)) == 0:
        parts.append("Final Answer: " + draw(st.text(max_size=30)))
    if draw(st.integers(0, 4)) == 0:
        noise = draw(st.lists(st.one_of(LABEL, st.text(max_size=8), st.sampled_from(NASTY)), max_size=5))
        parts.insert(draw(st.integers(0, len(parts))), " ".join(noise))
    return "\n".join(parts)


PY_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=10),
        st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
        st.complex_numbers(),
        st.binary(max_size=4),
        st.just(...),
        st.sampled_from(HANDLES + REFERENCES),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.frozensets(st.integers(), max_size=3),
        st.dictionaries(
            st.one_of(st.text(max_size=5), st.integers(), st.tuples(st.integers())), inner, max_size=3
        ),
    ),
    max_leaves=6,
)


def deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


PY_ARGUMENTS = st.one_of(
    st.dictionaries(st.sampled_from(["image", "box", "payload", "mask", "boxes"]), PY_VALUES, max_size=3),
    st.dictionaries(st.one_of(st.integers(), st.text(max_size=3)), PY_VALUES, max_size=2),
    st.sampled_from([{"a": deep(250)}, {"box": [0, 0, 2**64, 5]}, {"\ud800": 1}, {1: 2}, [1, 2], "{'a': 1}"]),
    ARGUMENTS_TEXT,
)


@st.composite
def native_replies(draw: st.DrawFn) -> ToolReply:
    """A native tool-calling reply whose calls' arguments are whatever a backend might hand over."""
    calls = [
        ToolCall(f"c{i}", draw(st.one_of(TOOLS, st.just("plan"))), draw(PY_ARGUMENTS))
        for i in range(draw(st.integers(0, 3)))
    ]
    return ToolReply(draw(st.one_of(st.text(max_size=20), text_replies())), calls)


@st.composite
def python_plans(draw: st.DrawFn) -> Any:
    """A plan handed to run_plan as Python data."""
    step = st.fixed_dictionaries(
        {"tool": TOOLS, "arguments": PY_ARGUMENTS},
        optional={"id": PY_VALUES, "dependencies": PY_VALUES},
    )
    return draw(st.one_of(st.lists(step, max_size=3), step, PY_VALUES))


# -- turns close to valid: most reach the experts, some carry one hostile value ---------------------------
SANE = {
    "noop": {"payload": '"hello"'},
    "crop": {"image": '"image-1"', "box": "[0, 0, 8, 8]"},
    "draw_boxes": {"image": '"image-1"', "boxes": "[[0, 0, 8, 8], [2, 2, 6, 6]]"},
    "canny": {"image": '"image-1"'},
    "threshold": {"image": '"image-1"', "level": "100"},
    "resize": {"image": '"image-1"', "scale": "0.5"},
    "invert": {"image": '"image-1"'},
    "overlay_mask": {"image": '"image-1"', "mask": '"<step-0>"'},
}
STEP_VALUES = ['"<step-0>"', '"<step-0>.mask.bbox"', '"<GENERATED>-0"', '"<step-0>.image"', '"<GENERATED-0>"']


@st.composite
def near_valid_arguments(draw: st.DrawFn, tool: str, in_plan: bool) -> str:
    chance = draw(st.randoms(use_true_random=True))  # hypothesis favours edge cases; this keeps odds
    arguments = dict(SANE[tool])
    if not in_plan:
        arguments.pop("mask", None)
    if in_plan and chance.random() < 0.5:
        key = draw(st.sampled_from(sorted(arguments)))
        arguments[key] = draw(st.sampled_from(STEP_VALUES))
    if chance.random() < 0.3:  # one hostile value or key
        key = draw(st.sampled_from([*sorted(arguments), '"extra"', "1", "(1, 2)", '"\\ud800"']))
        arguments[key.strip('"') if key.startswith('"') and key != '"\\ud800"' else key] = draw(VALUE_TEXT)
    return _object([(k if not k[0].isalpha() else json.dumps(k), v) for k, v in arguments.items()])


@st.composite
def run_replies(draw: st.DrawFn) -> str:
    """A reply for a full run: an action, a plan, an answer, an ambiguous turn, or noise."""
    kind = draw(st.randoms(use_true_random=True)).choice(
        ["action"] * 3 + ["plan"] * 3 + ["final", "both", "noise"]
    )
    tools = sorted(SANE)
    if kind == "noise":
        return draw(text_replies())
    if kind == "final":
        return "Thought: done\nFinal Answer: " + draw(st.text(max_size=20))
    if kind == "plan":
        steps = []
        for i in range(draw(st.integers(1, 3))):
            tool = draw(st.sampled_from(tools if i else ["threshold", "canny", "noop"]))
            steps.append(
                f'{{"id": {i}, "tool": "{tool}", "arguments": {draw(near_valid_arguments(tool, i > 0))}}}'
            )
        body = ", ".join(steps)
        return "Thought: plan it\nPlan:\n" + (f"[{body}]" if draw(st.booleans()) else body)
    tool = draw(st.sampled_from([t for t in tools if t != "overlay_mask"]))
    action = f"Action: {tool}\nAction Input: {draw(near_valid_arguments(tool, False))}"
    if kind == "both":
        return f"Thought: t\n{action}\nFinal Answer: guessed"
    return f"Thought: t\n{action}"
