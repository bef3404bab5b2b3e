"""Video throughput: decoding and sampling 16 frames, alone and with CLIP scoring them (video_classify).

Run: ``python bench/video_throughput.py [--rounds 5] [--seconds 10] [--model DIR]``. Direct expert
calls in one process (the work a replica does, without Ray), PyAV decoding (the ``[video]`` extra).

The clip: ``--seconds`` of 640x360 H.264 at 30 fps (a moving square over a changing background),
encoded here. Measured in alternating rounds after one warm-up each, median seconds per call:

- decode all:    every frame decoded to RGB (``VideoFile.iter_frames``), the decoder's own speed
- decode + 16:   16 frames spread evenly over the clip (``VideoFile.frames``: one pass up to the last
                 one, the others skipped without conversion), what ``video_frames`` does
- classify 16:   ``video_classify`` on the same 16 frames and 4 labels: decode + sample + CLIP's image
                 and text encoders

CLIP is ViT-B/32-sized (``CLIPConfig()``'s defaults) with random weights unless ``--model`` names a
local CLIP directory: the arithmetic is that of the real model, the labels it picks are not.
Prints seconds per call, sampled frames per second, decoded frames per second, and each row's time
as a ratio of "decode + 16".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WIDTH, HEIGHT, FPS, SAMPLED = 640, 360, 30, 16
LABELS = ["a red square", "a blue background", "a moving shape", "a person talking"]


def frame(index: int) -> np.ndarray:
    """A background that changes colour every 3 s, and a white square moving right."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = ((200, 40, 40), (40, 40, 200), (40, 160, 40))[(index // (3 * FPS)) % 3]
    x = (index * 4) % (WIDTH - 80)
    image[140:220, x : x + 80] = 255
    return image


def clip_model(directory: Path) -> Path:
    """A ViT-B/32-sized CLIP with random weights and the tiny tests' processor, saved in ``directory``."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from tests.experts.tiny_clip import BOS, EOS, build_tiny_clip, build_tiny_clip_vocab

    build_tiny_clip(directory, image_size=224)  # the processor (224 px) and a byte-level tokenizer
    vocab = build_tiny_clip_vocab()
    config = CLIPConfig()
    text = config.text_config  # the tokenizer's vocabulary and length, not BPE's 49k
    text.vocab_size, text.max_position_embeddings = len(vocab), 32
    text.bos_token_id, text.eos_token_id, text.pad_token_id = vocab[BOS], vocab[EOS], vocab[EOS]
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="length of the generated clip")
    parser.add_argument("--model", help="a local CLIP directory (default: ViT-B/32-sized random weights)")
    args = parser.parse_args()

    from experts._video import VideoData
    from experts._video_io import VideoFile
    from experts.video_classify import VideoClassify
    from experts.video_frames import uniform_indices
    from tests.support.videos import encode_video

    total = args.seconds * FPS
    data = encode_video(total, fps=FPS, make=frame)
    print(f"clip: {WIDTH}x{HEIGHT}, {total} frames at {FPS} fps, {len(data) / 1e6:.2f} MB (H.264)")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(clip_model(Path(tmp) / "clip"))
        expert = VideoClassify({"model": model, "device": "cpu", "dtype": "float32"})
        expert.setup()
        indices = uniform_indices(total, SAMPLED)

        def decode_all() -> Any:
            return sum(1 for _ in VideoFile(data).iter_frames())

        def decode_sampled() -> Any:
            return VideoFile(data).frames(indices)

        def classify() -> Any:
            video = VideoData("video-1", data)
            return expert.run(VideoClassify.Input(video=video, labels=LABELS, frames=SAMPLED))

        cases = {"decode all": decode_all, "decode + 16": decode_sampled, "classify 16": classify}
        for run in cases.values():  # warm-up: codec, model, allocator
            run()
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, run in cases.items():
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)

    base = statistics.median(times["decode + 16"])
    print(f"{'':14} {'s/call':>8} {'sampled f/s':>12} {'decoded f/s':>12} {'vs decode+16':>13}")
    for name, values in times.items():
        seconds = statistics.median(values)
        sampled = total if name == "decode all" else SAMPLED
        rates = f"{sampled / seconds:12.1f} {total / seconds:12.1f}"
        print(f"{name:14} {seconds:8.3f} {rates} {seconds / base:12.2f}x")
    clip_only = statistics.median(times["classify 16"]) - base
    rate = SAMPLED / clip_only
    print(f"CLIP on {SAMPLED} frames + {len(LABELS)} labels: {clip_only:.3f} s ({rate:.1f} frames/s)")


if __name__ == "__main__":
    main()
