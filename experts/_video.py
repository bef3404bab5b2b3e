"""Video artifacts as experts see them: :class:`VideoData` and the Input field type :data:`VideoRef`.

A video reaches a replica as its encoded file (the artifact's stored bytes, through Ray's object
store like any pixels); frames are decoded there, only those the expert asks for
(:meth:`VideoData.frames`). The controller names a video by its handle (``video-1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import WithJsonSchema

from experts._video_io import Frame, VideoFile, VideoInfo
from experts.artifact_types import _ref_validator

__all__ = ["VideoData", "VideoRef"]


@dataclass
class VideoData:
    """An encoded video file: ``info`` (size, frame count, duration, fps) and frames decoded on demand.

    ``content_id`` is the artifact's id, as for :class:`~experts.base.ImageData`.
    """

    handle: str
    data: bytes
    content_id: str | None = None
    _file: VideoFile = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._file = VideoFile(self.data)

    @property
    def info(self) -> VideoInfo:
        return self._file.info

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height

    def frames(self, indices: Sequence[int]) -> list[Frame]:
        """The frames at ``indices`` (0-based, presentation order), decoded in one pass."""
        return self._file.frames(indices)

    def index_at(self, seconds: float) -> int:
        """The index of the frame on screen at ``seconds`` from the start."""
        return self._file.index_at(seconds)

    @property
    def file(self) -> VideoFile:
        """The decoder, for a pass over every frame (:meth:`~experts._video_io.VideoFile.iter_frames`)."""
        return self._file


VideoRef = Annotated[
    VideoData,
    _ref_validator("video", VideoData),
    WithJsonSchema({"type": "string", "description": "handle of a video artifact, e.g. video-1"}),
]
"""Input field type for a video: the controller writes a handle, the expert gets :class:`VideoData`."""
