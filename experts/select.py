"""Select: filter a boxes artifact by label, score and rank into a new boxes artifact."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from experts._boxes import area_of, label_of, matches, score_of
from experts.base import BoxesRef, Expert, NewBoxes


class SelectInput(BaseModel):
    boxes: BoxesRef = Field(description="the boxes artifact to filter (e.g. detections or OCR lines)")
    labels: list[str] | None = Field(
        default=None,
        max_length=64,
        description="keep only items whose label is one of these or contains one as whole words, ignoring "
        "case ('car' keeps 'red car', not 'carpet'); OCR lines match on their text",
    )
    min_score: float | None = Field(
        default=None, ge=0, le=1, description="keep only items scoring at least this (unscored items go)"
    )
    top_k: int | None = Field(
        default=None, ge=1, le=1000, description="then keep the k highest-scoring items"
    )
    largest: int | None = Field(
        default=None, ge=1, le=1000, description="then keep the k largest items by box area"
    )

    @model_validator(mode="after")
    def _one_rank(self) -> SelectInput:
        if self.top_k is not None and self.largest is not None:
            raise ValueError(
                "give 'top_k' (by score) or 'largest' (by area), not both; select again for the other"
            )
        return self


class SelectOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    boxes: NewBoxes = Field(description="the items kept, unchanged, as a new boxes artifact")
    indices: list[int] = Field(description="for each item kept, its position in the input artifact")
    count: int = Field(description="how many items were kept")


class Select(Expert[SelectInput, SelectOutput]):
    name = "select"
    description = (
        "Filter a boxes artifact (from detect, ocr, …) into a new one: by 'labels' (whole-word, any "
        "case), by 'min_score', then the 'top_k' highest-scoring or the 'largest' k by area. Returns "
        "the kept items (in input order, or best first when ranked) and their positions. Use it to "
        "keep only the objects a task is about before segmenting, drawing or counting them."
    )
    Input = SelectInput
    Output = SelectOutput

    def run(self, inputs: SelectInput) -> SelectOutput:
        items = inputs.boxes.items
        kept = list(range(len(items)))
        if inputs.labels is not None:
            kept = [i for i in kept if any(matches(label_of(items[i]), w) for w in inputs.labels)]
        scores = [score_of(item) for item in items]
        if inputs.min_score is not None:
            threshold = inputs.min_score
            kept = [i for i in kept if (score := scores[i]) is not None and score >= threshold]
        if inputs.top_k is not None:  # best first; items without a score last
            kept = sorted(kept, key=lambda i: (scores[i] is None, -(scores[i] or 0.0)))[: inputs.top_k]
        if inputs.largest is not None:
            handle = inputs.boxes.handle
            kept = sorted(kept, key=lambda i: -area_of(items[i], i, handle))[: inputs.largest]
        return SelectOutput(boxes=NewBoxes([dict(items[i]) for i in kept]), indices=kept, count=len(kept))
