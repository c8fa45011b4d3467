"""Stage training clips for a machine the originals do not fit on: each clip's first frames
exactly as the frame cache reads them (`iter_frames` at the model size), coded RGB to RGB by
x264 (libx264rgb: no YUV conversion, so no colour range to get wrong), and read back to
report how far the copy is from what it stands for.

    python scripts/stage_training_clips.py TRAIN_DIR OUT_DIR [--crf 22] [--frames 240] [--size 256]

A copy through a YUV codec once read back 1-2 levels darker (limited range), and a model
fine-tuned on it learnt the darker colours (docs/TRAINING.md).
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from imfcodec.codec.video_io import iter_frames
from imfcodec.training.data import list_videos


def stage(video: Path, out: Path, size: int, frames: int, crf: int) -> tuple[np.ndarray, float]:
    """Write `out`; returns (mean difference per channel, PSNR in dB) of the copy, as read back."""
    original = np.stack(list(iter_frames(video, size=size, max_frames=frames)))
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264rgb", rate=Fraction(25))
        stream.width = stream.height = size
        stream.pix_fmt = "rgb24"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in original:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    copy = np.stack(list(iter_frames(out, size=size, max_frames=frames)))
    assert copy.shape == original.shape, (copy.shape, original.shape)
    diff = copy.astype(np.float64) - original
    return diff.reshape(-1, 3).mean(axis=0), float(10 * np.log10(255**2 / np.mean(diff**2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--crf", type=int, default=22)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    biases, psnrs, total = [], [], 0
    for video in list_videos(args.train):
        out = args.out / (video.stem + ".mkv")
        bias, psnr = stage(video, out, args.size, args.frames, args.crf)
        biases.append(bias)
        psnrs.append(psnr)
        total += out.stat().st_size
        print(f"{video.name}: {out.stat().st_size} bytes, {psnr:.2f} dB, bias {np.round(bias, 3)}", flush=True)
    print(f"{total / 1e6:.1f} MB; mean {np.mean(psnrs):.2f} dB, bias R/G/B {np.round(np.mean(biases, axis=0), 3)} levels")


if __name__ == "__main__":
    main()
