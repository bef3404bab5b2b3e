"""Count: how many items of a boxes artifact there are, per label."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from experts._boxes import label_of, matches, score_of
from experts.base import BoxesRef, Expert, NewText


class CountInput(BaseModel):
    boxes: BoxesRef = Field(description="the boxes artifact whose items are counted (e.g. detections)")
    labels: list[str] | None = Field(
        default=None,
        max_length=64,
        description="count these labels (each gets a count, 0 when absent; an item counts for a label "
        "that it equals or contains as whole words, ignoring case); default: every label present",
    )
    min_score: float | None = Field(
        default=None, ge=0, le=1, description="count only items scoring at least this (unscored items go)"
    )


class CountOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    counts: dict[str, int] = Field(description="number of items per label, most frequent first")
    total: int = Field(description="number of items counted (an item matching two labels counts once)")
    text: NewText = Field(description="the counts as a sentence, e.g. '3 person, 1 dog (4 in all)'")


def sentence(counts: dict[str, int], total: int) -> str:
    """``'3 person, 1 dog (4 in all)'``; ``'0 items'`` when nothing was counted."""
    if not counts:
        return "0 items"
    parts = ", ".join(f"{n} {label}" for label, n in counts.items())
    return parts if len(counts) == 1 else f"{parts} ({total} in all)"


class Count(Expert[CountInput, CountOutput]):
    name = "count"
    description = (
        "Count the items of a boxes artifact (e.g. detections) per label, optionally only the given "
        "'labels' (whole-word, any case: 'car' counts 'red car') and only those scoring at least "
        "'min_score'. Returns 'counts' per label, the 'total' and the counts as a text artifact. Use it "
        "for 'how many …' questions after detect; it counts exactly, unlike a caption model."
    )
    Input = CountInput
    Output = CountOutput

    def run(self, inputs: CountInput) -> CountOutput:
        items = inputs.boxes.items
        if inputs.min_score is not None:
            threshold = inputs.min_score
            items = [it for it in items if (score := score_of(it)) is not None and score >= threshold]
        counted: set[int] = set()
        if inputs.labels is None:
            counts: dict[str, int] = {}
            for item in items:
                label = label_of(item)
                counts[label] = counts.get(label, 0) + 1
            counted = set(range(len(items)))
        else:
            counts = {}
            for wanted in inputs.labels:
                hits = [i for i, item in enumerate(items) if matches(label_of(item), wanted)]
                counts[wanted] = len(hits)
                counted.update(hits)
        ordered = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
        total = len(counted)
        return CountOutput(counts=ordered, total=total, text=NewText(sentence(ordered, total)))
