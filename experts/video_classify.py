"""Video classify: zero-shot labels for a video with CLIP, scored on sampled frames and averaged over time."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from experts._clip_encoder import ClipEncoder
from experts._video import VideoRef
from experts._video_io import Frame
from experts.base import Expert, ExpertError
from experts.clip import ClipSettings
from experts.video_frames import uniform_indices


class VideoClassifyInput(BaseModel):
    video: VideoRef = Field(description="the video to classify")
    labels: list[str] = Field(
        description="the candidate labels, e.g. ['cooking', 'dancing', 'a car race']; at least one"
    )
    frames: int | None = Field(
        default=None,
        ge=1,
        description="how many frames, spread evenly over the video, are scored (default $num_frames, "
        "at most $max_frames)",
    )


class VideoClassifyOutput(BaseModel):
    label: str = Field(description="the best label over the whole video")
    score: float = Field(description="its probability, averaged over the scored frames")
    probabilities: dict[str, float] = Field(description="every label's averaged probability, best first")
    timeline: list[dict[str, Any]] = Field(
        description="per scored frame, in time order: {time (s), index, label: its best label, score}"
    )


class VideoClassifySettings(ClipSettings):
    """The clip expert's options (model, label_template, device, dtype) plus how many frames are scored."""

    num_frames: int = Field(default=8, ge=1, le=256, description="frames scored when the call gives none")
    max_frames: int = Field(default=32, ge=1, le=1024, description="most frames one call may score")


class VideoClassify(Expert[VideoClassifyInput, VideoClassifyOutput]):
    name = "video_classify"
    extra = "vision,video"
    description = (
        "Zero-shot classification of a video with CLIP: which of `labels` fits the video, scored on frames "
        "spread evenly over it (default $num_frames) and averaged over time. Returns the best label, its "
        "score, every label's probability, and a timeline of the best label per scored frame (to see when "
        "the content changes). Use it for what a clip shows or what activity happens in it."
    )
    Input = VideoClassifyInput
    Output = VideoClassifyOutput
    Settings = VideoClassifySettings

    settings: VideoClassifySettings

    def setup(self) -> None:
        s = self.settings
        self._clip = ClipEncoder(s.model, device=s.device, dtype=s.dtype, expert=self.name)
        self._scale = self._clip.scale

    def run(self, inputs: VideoClassifyInput) -> VideoClassifyOutput:
        result = self.run_batch([inputs])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    def run_batch(self, batch: list[VideoClassifyInput]) -> list[VideoClassifyOutput | ExpertError]:
        """Every video's frames in one image forward pass, every label in one text forward pass."""
        prepared: list[tuple[list[Frame], list[str]] | ExpertError] = []
        for inputs in batch:
            try:
                prepared.append(self._prepare(inputs))
            except ExpertError as err:
                prepared.append(err)
        images = [f.array for item in prepared if not isinstance(item, ExpertError) for f in item[0]]
        if not images:
            return [item for item in prepared if isinstance(item, ExpertError)]
        texts = list(
            dict.fromkeys(
                self.settings.label_template.format(label)
                for item in prepared
                if not isinstance(item, ExpertError)
                for label in item[1]
            )
        )
        image_emb, text_emb = self._embed(images, texts)
        rows = {text: row for row, text in enumerate(texts)}
        results: list[VideoClassifyOutput | ExpertError] = []
        first = 0
        for item in prepared:
            if isinstance(item, ExpertError):
                results.append(item)
                continue
            frames, labels = item
            columns = [rows[self.settings.label_template.format(label)] for label in labels]
            similarity = image_emb[first : first + len(frames)] @ text_emb[columns].T  # (frames, labels)
            first += len(frames)
            results.append(self._answer(frames, labels, (self._scale * similarity).softmax(-1)))
        return results

    def _prepare(self, inputs: VideoClassifyInput) -> tuple[list[Frame], list[str]]:
        labels = [label.strip() for label in inputs.labels]
        if not labels or not all(labels) or len(set(labels)) != len(labels):
            raise ExpertError(
                f"labels {inputs.labels} must be one or more different, non-blank texts, e.g. ['cooking', "
                "'dancing']"
            )
        count = inputs.frames or self.settings.num_frames
        if count > self.settings.max_frames:
            raise ExpertError(f"frames {count} is over the limit of {self.settings.max_frames} per call")
        total = inputs.video.info.frame_count
        indices = uniform_indices(total, min(count, total))
        return inputs.video.frames(indices), labels

    def _embed(self, images: list[Any], texts: list[str]) -> tuple[Any, Any]:
        """Unit-length image and text embeddings (CPU float32)."""
        return self._clip.embed(images, texts)

    @staticmethod
    def _answer(frames: list[Frame], labels: list[str], probs: Any) -> VideoClassifyOutput:
        mean = probs.mean(0)
        order = mean.argsort(descending=True).tolist()
        timeline = []
        for frame, row in zip(frames, probs, strict=True):
            best = int(row.argmax())
            timeline.append(
                {
                    "time": round(frame.time, 3),
                    "index": frame.index,
                    "label": labels[best],
                    "score": round(float(row[best]), 4),
                }
            )
        return VideoClassifyOutput(
            label=labels[order[0]],
            score=round(float(mean[order[0]]), 4),
            probabilities={labels[k]: round(float(mean[k]), 4) for k in order},
            timeline=timeline,
        )
