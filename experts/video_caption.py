"""Video caption: a multimodal LLM (Qwen2-VL) watches frames sampled from a video and describes it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from experts._video import VideoRef
from experts._video_answer import VideoMllmSettings, VideoRequest, answer_batch, load_video_mllm, sample
from experts.base import Expert, ExpertError, NewText

CAPTION_PROMPT = "Describe what happens in this video in one or two sentences."


class VideoCaptionInput(BaseModel):
    video: VideoRef = Field(description="the video to describe")
    frames: int | None = Field(
        default=None,
        ge=1,
        description="how many frames, spread evenly over the video, the model watches (default "
        "$num_frames, at most $max_frames)",
    )
    max_new_tokens: int | None = Field(
        default=None, ge=1, le=512, description="longest caption in tokens (default $max_new_tokens)"
    )


class VideoCaptionOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str = Field(description="the caption")
    caption: NewText = Field(description="the caption stored as a text artifact")
    times: list[float] = Field(description="the times (s) of the frames the model watched")


class VideoCaption(Expert[VideoCaptionInput, VideoCaptionOutput]):
    name = "video_caption"
    extra = "vision,video"
    description = (
        "Describe a video in words: a multimodal LLM (Qwen2-VL) watches frames spread evenly over it "
        "(default $num_frames), in order, as a video, and says what happens. Returns 'text' and "
        "'caption' (the same text as a text artifact). It can miss short events between the frames it "
        "watches and be wrong about counts or small text: check those with video_frames and the image "
        "experts when they matter."
    )
    Input = VideoCaptionInput
    Output = VideoCaptionOutput
    Settings = VideoMllmSettings
    thread_safe = False  # one generate at a time per replica; concurrent calls share batches instead

    settings: VideoMllmSettings

    def setup(self) -> None:
        self._model = load_video_mllm(self.settings, self.name)

    def run(self, inputs: VideoCaptionInput) -> VideoCaptionOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[VideoCaptionInput]) -> list[VideoCaptionOutput | ExpertError]:
        """One batched ``generate`` for every valid call."""
        return answer_batch(self._model, batch, self._request, self._output)

    def _request(self, inputs: VideoCaptionInput) -> VideoRequest:
        return sample(inputs.video, inputs.frames, CAPTION_PROMPT, inputs.max_new_tokens, self.settings)

    @staticmethod
    def _output(inputs: VideoCaptionInput, request: VideoRequest, text: str) -> VideoCaptionOutput:
        return VideoCaptionOutput(text=text, caption=NewText(text), times=request.times)
