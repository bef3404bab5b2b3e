"""Qwen2-VL reading a video natively: sampled frames go in as one video (temporal patches, video tokens,
M-RoPE time positions), not as unrelated images.

transformers' ``Qwen2VLVideoProcessor`` needs torchvision (not part of the default install), so
:class:`QwenVideoFrames` builds the same model inputs (``pixel_values_videos``, ``video_grid_thw``)
from decoded frames with numpy and PIL, using the checkpoint's own patch, merge and temporal patch
sizes and normalisation. It is attached to the loaded processor as its ``video_processor``, so the
processor expands the video placeholder of the chat template into the right number of video
tokens and marks them for M-RoPE, exactly as for an image.

Imported by the video MLLM experts' ``setup()`` only: it imports transformers at module level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from transformers import AutoConfig, BatchFeature
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from experts._chat_generate import generate_chat
from experts._loading import load_model
from experts._mllm_families import greedy_config, load_family
from loading import ModelNotAvailable

__all__ = ["QwenVideoFrames", "VideoMllm"]


class QwenVideoFrames:
    """Qwen2-VL's video processor in numpy: frames → ``pixel_values_videos`` and ``video_grid_thw``.

    Every frame of a video is resized to one size (a multiple of ``patch_size * merge_size`` with at
    most ``max_pixels`` pixels), normalised, and cut into patches spanning ``temporal_patch_size``
    frames (an odd frame count repeats the last frame, as transformers does).
    """

    model_input_names = ["pixel_values_videos", "video_grid_thw"]

    def __init__(self, image_processor: Any, max_pixels: int) -> None:
        self.patch_size = int(image_processor.patch_size)
        self.temporal_patch_size = int(image_processor.temporal_patch_size)
        self.merge_size = int(image_processor.merge_size)
        self.mean = np.asarray(image_processor.image_mean, np.float32)
        self.std = np.asarray(image_processor.image_std, np.float32)
        self.min_pixels = int(image_processor.size["shortest_edge"])
        self.max_pixels = max(self.min_pixels, min(max_pixels, int(image_processor.size["longest_edge"])))

    def __call__(self, videos: Sequence[np.ndarray], return_tensors: Any = None, **_: Any) -> BatchFeature:
        """``videos``: one ``(frames, height, width, 3)`` uint8 array per video (also nested one list per
        conversation, as ``apply_chat_template`` passes them)."""
        patches, grids = [], []
        for video in _flat(videos):
            flat, grid = self._patches(np.asarray(video))
            patches.append(flat)
            grids.append(grid)
        data = {"pixel_values_videos": np.concatenate(patches), "video_grid_thw": np.asarray(grids, np.int64)}
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _patches(self, video: np.ndarray) -> tuple[np.ndarray, list[int]]:
        patch, merge, temporal = self.patch_size, self.merge_size, self.temporal_patch_size
        height, width = video.shape[1:3]
        new_h, new_w = smart_resize(
            height, width, factor=patch * merge, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )
        frames = np.stack(
            [np.asarray(Image.fromarray(f).resize((new_w, new_h), Image.Resampling.BICUBIC)) for f in video]
        )
        pixels = ((frames.astype(np.float32) / 255 - self.mean) / self.std).transpose(0, 3, 1, 2)  # T,C,H,W
        if pad := -len(pixels) % temporal:
            pixels = np.concatenate([pixels, np.repeat(pixels[-1:], pad, axis=0)])
        grid_t, grid_h, grid_w = len(pixels) // temporal, new_h // patch, new_w // patch
        channels = pixels.shape[1]
        blocks = pixels.reshape(
            grid_t, temporal, channels, grid_h // merge, merge, patch, grid_w // merge, merge, patch
        ).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        flat = blocks.reshape(grid_t * grid_h * grid_w, channels * temporal * patch * patch)
        return np.ascontiguousarray(flat), [grid_t, grid_h, grid_w]


def _flat(videos: Any) -> list[np.ndarray]:
    if isinstance(videos, np.ndarray):
        return [videos]
    return [video for item in videos for video in _flat(item)]


class VideoMllm:
    """A Qwen2-VL checkpoint loaded for video: greedy answers about sampled frames, batched."""

    def __init__(self, model: str, *, expert: str, device: str, dtype: Any, max_frame_pixels: int) -> None:
        config = load_model(AutoConfig.from_pretrained, model, expert=expert)
        if config.model_type != "qwen2_vl":
            raise ModelNotAvailable(
                f"expert '{expert}': model '{model}' is a '{config.model_type}' checkpoint; the video "
                "experts need a Qwen2-VL checkpoint (the family that reads video natively): set "
                "options.model to one"
            )
        self.processor, self.model = load_family("qwen2_vl", model, expert=expert, device=device, dtype=dtype)
        self.processor.video_processor = QwenVideoFrames(self.processor.image_processor, max_frame_pixels)
        self.generation = greedy_config(self.model, self.processor.tokenizer.pad_token_id)

    def answer(self, videos: list[np.ndarray], prompts: list[str], max_new_tokens: list[int]) -> list[str]:
        """One left-padded batched ``generate``: ``prompts[i]`` about ``videos[i]`` (frames, H, W, 3)."""

        conversations = [
            [
                {
                    "role": "user",
                    "content": [{"type": "video", "video": video}, {"type": "text", "text": prompt}],
                }
            ]
            for video, prompt in zip(videos, prompts, strict=True)
        ]
        return generate_chat(self.processor, self.model, self.generation, conversations, max_new_tokens)
