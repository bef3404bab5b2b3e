"""Noop: echo the payload back; for health checks and measuring the per-call overhead."""

from __future__ import annotations

from pydantic import BaseModel, Field

from experts.base import Expert


class NoopInput(BaseModel):
    payload: str = Field(default="", description="any text; it is returned unchanged")


class NoopOutput(BaseModel):
    echo: str = Field(description="the payload, unchanged")


class Noop(Expert[NoopInput, NoopOutput]):
    name = "noop"
    description = (
        "Does nothing: returns 'echo', the given 'payload' text unchanged. Only for health checks "
        "and timing; it never helps answer a question about an image."
    )
    Input = NoopInput
    Output = NoopOutput

    def run(self, inputs: NoopInput) -> NoopOutput:
        return NoopOutput(echo=inputs.payload)
