"""Video QA: a multimodal LLM (Qwen2-VL) watches frames sampled from a video and answers a question."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from experts._video import VideoRef
from experts._video_answer import VideoMllmSettings, VideoRequest, answer_batch, load_video_mllm, sample
from experts.base import Expert, ExpertError, NewText

QA_PROMPT = "{question}\nAnswer briefly."


class VideoQaInput(BaseModel):
    video: VideoRef = Field(description="the video the question is about")
    question: str = Field(description="the question, e.g. 'What does the person pick up?'")
    frames: int | None = Field(
        default=None,
        ge=1,
        description="how many frames, spread evenly over the video, the model watches (default "
        "$num_frames, at most $max_frames)",
    )
    max_new_tokens: int | None = Field(
        default=None, ge=1, le=512, description="longest answer in tokens (default $max_new_tokens)"
    )


class VideoQaOutput(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str = Field(description="the answer")
    answer: NewText = Field(description="the answer stored as a text artifact")
    times: list[float] = Field(description="the times (s) of the frames the model watched")


class VideoQa(Expert[VideoQaInput, VideoQaOutput]):
    name = "video_qa"
    extra = "vision,video"
    description = (
        "Answer a question about a video: a multimodal LLM (Qwen2-VL) watches frames spread evenly over "
        "it (default $num_frames), in order, as a video, and answers `question` briefly. Returns 'text' "
        "and 'answer' (the same text as a text artifact). It can miss short events between the frames it "
        "watches and be wrong about counts or small text: check those with video_frames and the image "
        "experts when they matter."
    )
    Input = VideoQaInput
    Output = VideoQaOutput
    Settings = VideoMllmSettings
    thread_safe = False  # one generate at a time per replica; concurrent calls share batches instead

    settings: VideoMllmSettings

    def setup(self) -> None:
        self._model = load_video_mllm(self.settings, self.name)

    def run(self, inputs: VideoQaInput) -> VideoQaOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[VideoQaInput]) -> list[VideoQaOutput | ExpertError]:
        """One batched ``generate`` for every valid call."""
        return answer_batch(self._model, batch, self._request, self._output)

    def _request(self, inputs: VideoQaInput) -> VideoRequest:
        question = inputs.question.strip()
        if not question:
            raise ExpertError("question is blank; ask something about the video, e.g. 'What happens first?'")
        prompt = QA_PROMPT.format(question=question)
        return sample(inputs.video, inputs.frames, prompt, inputs.max_new_tokens, self.settings)

    @staticmethod
    def _output(inputs: VideoQaInput, request: VideoRequest, text: str) -> VideoQaOutput:
        return VideoQaOutput(text=text, answer=NewText(text), times=request.times)
