"""A test-only expert whose description names a setting (importable, so Ray workers load it by name)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from experts.base import Expert


class BrightInput(BaseModel):
    level: float | None = Field(default=None, description="pixel level to count above (default $level)")


class BrightOutput(BaseModel):
    level: float


class BrightSettings(Expert.Settings):
    level: float = 200.0


class Bright(Expert[BrightInput, BrightOutput]):
    name = "bright"
    description = "Reports the level it would count bright pixels above; its default level is $level."
    Input = BrightInput
    Output = BrightOutput
    Settings = BrightSettings

    settings: BrightSettings

    def run(self, inputs: BrightInput) -> BrightOutput:
        return BrightOutput(level=self.settings.level if inputs.level is None else inputs.level)
