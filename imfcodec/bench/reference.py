"""The reference clip of the test conditions: first N frames, centre square, 256², native fps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..codec.video_io import VideoWriter, iter_frames, probe


def prepare_reference(video: Path, frames: int, size: int, cache: Path) -> tuple[np.ndarray, Fraction, Path]:
    """Frames (T, size, size, 3) uint8, the fps, and a lossless FFV1 copy for the codecs to read.
    Cached under `cache` by clip name, frame count and size."""
    cache.mkdir(parents=True, exist_ok=True)
    fps = probe(video).fps
    stem = f"{video.stem}-{frames}f-{size}"
    npy, mkv = cache / f"{stem}.npy", cache / f"{stem}.mkv"
    if npy.is_file() and mkv.is_file():
        return np.load(npy), fps, mkv
    ref = np.stack(list(iter_frames(video, size=size, max_frames=frames)))
    writer = VideoWriter(mkv, fps, size, size)
    for f in ref:
        writer.write(f)
    writer.close()
    np.save(npy, ref)
    return ref, fps, mkv
